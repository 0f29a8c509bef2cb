//! umk-rootfs: build ext4 root filesystem images for umk, inspect them
//! through umk's own ext4 reader (alone or with a VM's overlay on top), and
//! commit a VM's overlay into a new image.

pub mod build;
pub mod commit;
pub mod inspect;
pub mod merged;
pub mod mkfs;
pub mod size;
pub mod stage;
pub mod tarball;
