SUMMARY = "PiCloud: PID 1, node process and CLI in one static binary"
DESCRIPTION = "The picloud binary from the PiCloud workspace (crate firmware/crates/picloud), \
installed as /sbin/init and /usr/bin/picloud on the read-only root and as /init in the \
initramfs, following the boot contract in docs/firmware.md."
HOMEPAGE = "https://picloud.local/source"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"

# The version must equal [workspace.package] version in the workspace's Cargo.toml (checked by
# picloud-image's meta_picloud_agrees test). Point SRCREV at the release commit.
SRC_URI = "git://picloud.local/source;protocol=https;branch=main"
SRCREV = "${AUTOREV}"
S = "${WORKDIR}/git"

inherit cargo cargo-update-recipe-crates

# The crate inside the workspace; Cargo.lock is used as is (--locked), the crates' sources come
# from picloud-crates.inc (regenerate with `bitbake -c update_crates picloud`).
CARGO_SRC_DIR = "firmware/crates/picloud"
CARGO_BUILD_FLAGS:append = " --locked"
require picloud-crates.inc

# The binary is static (musl), like the one cargo xtask image ships: no runtime dependencies.
TCLIBC_picloud ?= "musl"
INSANE_SKIP:${PN} += "already-stripped"

do_install() {
    install -d ${D}${base_sbindir} ${D}${bindir} ${D}${sysconfdir}/picloud
    install -m 0755 ${B}/target/${CARGO_TARGET_SUBDIR}/picloud ${D}${bindir}/picloud
    ln -f ${D}${bindir}/picloud ${D}${base_sbindir}/init
    for d in proc sys dev run tmp data; do install -d ${D}/$d; done
}

FILES:${PN} += "${base_sbindir}/init ${sysconfdir}/picloud /proc /sys /dev /run /tmp /data"
RCONFLICTS:${PN} = "systemd sysvinit busybox-init"
