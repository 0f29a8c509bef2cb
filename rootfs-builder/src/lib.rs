//! umk-rootfs: build ext4 root filesystem images for umk, and inspect them
//! through umk's own ext4 reader.

pub mod build;
pub mod inspect;
pub mod mkfs;
pub mod size;
pub mod stage;
pub mod tarball;
