# picloud-verity: appends the dm-verity hash tree to the erofs root (veritysetup format
# --hash-offset, sha256, 4096-byte blocks, superblock at hash_offset), signs the root hash with
# ed25519 over its lowercase hex, and writes cmdline-a.txt / cmdline-b.txt with the
# picloud.* keys of the boot contract (docs/firmware.md in the workspace). The same steps as
# firmware/crates/picloud-image/src/build.rs.

PICLOUD_VERITY_KEY ??= "${PICLOUD_LAYERDIR}/files/verity-dev-INSECURE.seed"
DEPENDS += "cryptsetup-native python3-cryptography-native"

IMAGE_TYPES += "erofs-lz4hc.verity"
CONVERSIONTYPES += "verity"
CONVERSION_CMD:verity = "picloud_verity ${IMAGE_NAME}.${type}"

picloud_verity() {
    img="$1"
    size=$(stat -c %s "$img")
    blocks=$(( (size + 4095) / 4096 ))
    truncate -s $(( blocks * 4096 )) "$img"
    salt=$(sha256sum "$img" | cut -d' ' -f1)
    cp "$img" "$img.verity"
    veritysetup format "$img.verity" "$img.verity" --hash-offset=$(( blocks * 4096 )) \
        --data-blocks=$blocks --hash=sha256 --data-block-size=4096 --hash-block-size=4096 \
        --salt=$salt > "$img.verity.txt"
    roothash=$(sed -n 's/^Root hash:[[:space:]]*//p' "$img.verity.txt")
    sig=$(python3 -c "import sys,base64;from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey as K;seed=bytes.fromhex(''.join(l for l in open(sys.argv[1]) if not l.startswith('#')).strip());print(base64.b64encode(K.from_private_bytes(seed).sign(sys.argv[2].encode())).decode())" "${PICLOUD_VERITY_KEY}" "$roothash")
    for s in a:5 b:6; do
        echo "${PICLOUD_CMDLINE} picloud.slot=${s%:*} picloud.rootpart=${s#*:} picloud.verity=$roothash,$salt,$blocks,$(( blocks * 4096 )) picloud.veritysig=$sig picloud.datapart=7" > "${IMGDEPLOYDIR}/cmdline-${s%:*}.txt"
    done
}
