SUMMARY = "PiCloud stage-1 initramfs: /init, module list, verity public key"
DESCRIPTION = "The newc cpio the boot contract describes (docs/firmware.md): /init = picloud, \
/etc/picloud/modules, the modules under /lib/modules/<kver>/, /etc/picloud/verity.pub, the \
/etc/picloud/initramfs marker and /dev/console."
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

inherit image
IMAGE_FSTYPES = "cpio.gz"
IMAGE_INSTALL = "picloud"
IMAGE_LINGUAS = ""
PACKAGE_INSTALL = "${IMAGE_INSTALL}"
# Same module lists as board/<board>/board.toml in the workspace.
PICLOUD_MODULES:raspberrypi5 = "sdhci-brcmstb nvme erofs ext4 dm-verity vfat nls-cp437 nls-ascii bcm2835-wdt rp1-pci macb"
PICLOUD_MODULES:qemuarm64 = "virtio-blk virtio-net erofs ext4 dm-verity vfat nls-cp437 nls-ascii i6300esb"
IMAGE_INSTALL:append = " ${@' '.join('kernel-module-' + m for m in d.getVar('PICLOUD_MODULES').split())}"

# The verity public key: the raw 32-byte ed25519 key of PICLOUD_VERITY_KEY (see
# picloud-image.bb). The development key is insecure (README.md).
PICLOUD_VERITY_PUB ?= "${PICLOUD_LAYERDIR}/files/verity-dev-INSECURE.pub"
ROOTFS_POSTPROCESS_COMMAND += "picloud_initramfs_layout;"
picloud_initramfs_layout() {
    install -d ${IMAGE_ROOTFS}/etc/picloud ${IMAGE_ROOTFS}/dev
    mv ${IMAGE_ROOTFS}${bindir}/picloud ${IMAGE_ROOTFS}/init
    rm -f ${IMAGE_ROOTFS}${base_sbindir}/init
    : > ${IMAGE_ROOTFS}/etc/picloud/initramfs
    install -m 0644 ${PICLOUD_VERITY_PUB} ${IMAGE_ROOTFS}/etc/picloud/verity.pub
    (cd ${IMAGE_ROOTFS}/lib/modules/*/ && find kernel -name '*.ko*' | sort) > ${IMAGE_ROOTFS}/etc/picloud/modules
}
