#!/bin/sh
# Post-image script of every StreamForge board: builds the board's disk
# image (disk.img or sdcard.img) with genimage from the images in
# BINARIES_DIR. Buildroot passes BINARIES_DIR as $1, then
# BR2_ROOTFS_POST_SCRIPT_ARGS and BR2_ROOTFS_POST_IMAGE_SCRIPT_ARGS, whose
# last word names the board's genimage.cfg.
#
# The root path is an empty directory, not TARGET_DIR: data.ext4 has no
# mountpoint, so genimage would fill it with the whole target tree.
set -e

eval GENIMAGE_CFG=\"\${$#}\"
if [ -z "${GENIMAGE_CFG}" ] || [ ! -f "${GENIMAGE_CFG}" ]; then
	echo "post-image.sh: BR2_ROOTFS_POST_IMAGE_SCRIPT_ARGS must name the board's genimage.cfg (got '${GENIMAGE_CFG}')" >&2
	exit 1
fi
GENIMAGE_TMP="${BUILD_DIR}/genimage.tmp"
ROOTPATH_TMP="$(mktemp -d)"
trap 'rm -rf "${ROOTPATH_TMP}"' EXIT

rm -rf "${GENIMAGE_TMP}"
genimage \
	--rootpath "${ROOTPATH_TMP}" \
	--tmppath "${GENIMAGE_TMP}" \
	--inputpath "${BINARIES_DIR}" \
	--outputpath "${BINARIES_DIR}" \
	--config "${GENIMAGE_CFG}"
