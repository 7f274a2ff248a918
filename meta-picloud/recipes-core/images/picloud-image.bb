SUMMARY = "PiCloud firmware image: A/B boot slots, A/B erofs roots with dm-verity, data"
DESCRIPTION = "The same MBR layout as image/layout.toml of the PiCloud workspace \
(p1 bootsel, p2 bootA, p3 bootB, p4 extended, p5 rootA, p6 rootB, p7 data), assembled by \
wic from wic/picloud.wks."
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

inherit image picloud-verity

# The root file system holds nothing but picloud (recipes/ in the workspace).
IMAGE_INSTALL = "picloud"
IMAGE_LINGUAS = ""
IMAGE_FEATURES = "read-only-rootfs"
IMAGE_FSTYPES = "erofs-lz4hc wic wic.bmap"
EXTRA_IMAGECMD:erofs-lz4hc = "--all-root -T${SOURCE_DATE_EPOCH}"

WKS_FILE = "picloud.wks"
WKS_FILE_DEPENDS = "dosfstools-native mtools-native e2fsprogs-native erofs-utils-native cryptsetup-native"
do_image_wic[depends] += "picloud-initramfs:do_image_complete virtual/kernel:do_deploy"

# Partition contents, per FAT label (wic's bootimg-partition reads IMAGE_BOOT_FILES_label-<L>).
# Both slots get the same files except cmdline.txt (picloud.slot and picloud.rootpart differ).
# Pi 5 file names, as board/rpi5/board.toml in the workspace.
PICLOUD_SLOT_FILES:raspberrypi5 = "Image;kernel_2712.img picloud-initramfs-${MACHINE}.cpio.gz;initramfs_2712 \
    bcm2712-rpi-5-b.dtb bcm2712-d-rpi-5-b.dtb config.txt"
IMAGE_BOOT_FILES_label-BOOTSEL = "autoboot.txt"
IMAGE_BOOT_FILES_label-BOOTA = "${PICLOUD_SLOT_FILES} cmdline-a.txt;cmdline.txt"
IMAGE_BOOT_FILES_label-BOOTB = "${PICLOUD_SLOT_FILES} cmdline-b.txt;cmdline.txt"
PICLOUD_CMDLINE:raspberrypi5 = "console=ttyAMA10,115200 console=tty1 panic=-1 rootwait"
PICLOUD_CMDLINE:qemuarm64 = "console=ttyAMA0 panic=-1 quiet"

# autoboot.txt for p1 (identical to the one cargo xtask image writes).
do_image_wic[prefuncs] += "picloud_autoboot"
python picloud_autoboot() {
    with open(d.getVar('DEPLOY_DIR_IMAGE') + '/autoboot.txt', 'w') as f:
        f.write("[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n")
}
