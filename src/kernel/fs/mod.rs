//! The VFS and the filesystems it mounts.
pub mod ext4;
