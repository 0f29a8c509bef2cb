//! Networking. AF_UNIX sockets, paired (socketpair) and named in the
//! guest's own namespaces (bind, listen, connect, accept), with passing
//! of files and credentials; AF_INET and AF_INET6 TCP and UDP sockets on
//! a loopback network private to the VM (127.0.0.0/8 and ::1 on `lo`),
//! from which nothing reaches the host's network.

pub mod inet;
pub mod unix;

use crate::kernel::errno::KResult;
use crate::kernel::fs::Attr;
use crate::kernel::syscall::Ctx;
use crate::kernel::Kernel;

/// What fstat says of a socket: sockfs, a socket inode, mode 0777.
pub fn socket_attr(ino: u64) -> Attr {
    Attr {
        dev: 0x8,
        ino,
        mode: guest_abi::stat::S_IFSOCK | 0o777,
        nlink: 1,
        blksize: 4096,
        ..Default::default()
    }
}

/// Writes a byte count as the int that FIONREAD/SIOCINQ and SIOCOUTQ
/// return.
pub fn put_count(k: &mut Kernel, ctx: &Ctx, arg: u64, n: usize) -> KResult<i64> {
    let v = n.min(i32::MAX as usize) as i32;
    crate::kernel::mm::GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(arg, &v).map(|_| 0)
}
