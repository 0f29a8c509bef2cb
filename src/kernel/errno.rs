//! The kernel's error type: a Linux errno, with an optional static note
//! for the trace log.

use guest_abi::errno;
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

pub type KResult<T> = Result<T, Errno>;

impl Errno {
    pub const EPERM: Errno = Errno(errno::EPERM);
    pub const ENOENT: Errno = Errno(errno::ENOENT);
    pub const ESRCH: Errno = Errno(errno::ESRCH);
    pub const EDEADLK: Errno = Errno(errno::EDEADLK);
    pub const EINTR: Errno = Errno(errno::EINTR);
    pub const EIO: Errno = Errno(errno::EIO);
    pub const ENXIO: Errno = Errno(errno::ENXIO);
    pub const E2BIG: Errno = Errno(errno::E2BIG);
    pub const ENOEXEC: Errno = Errno(errno::ENOEXEC);
    pub const EBADF: Errno = Errno(errno::EBADF);
    pub const ECHILD: Errno = Errno(errno::ECHILD);
    pub const EAGAIN: Errno = Errno(errno::EAGAIN);
    pub const ENOMEM: Errno = Errno(errno::ENOMEM);
    pub const EACCES: Errno = Errno(errno::EACCES);
    pub const EFAULT: Errno = Errno(errno::EFAULT);
    pub const EBUSY: Errno = Errno(errno::EBUSY);
    pub const EEXIST: Errno = Errno(errno::EEXIST);
    pub const EXDEV: Errno = Errno(errno::EXDEV);
    pub const ENODEV: Errno = Errno(errno::ENODEV);
    pub const ENOTDIR: Errno = Errno(errno::ENOTDIR);
    pub const EISDIR: Errno = Errno(errno::EISDIR);
    pub const EINVAL: Errno = Errno(errno::EINVAL);
    pub const ENFILE: Errno = Errno(errno::ENFILE);
    pub const EMFILE: Errno = Errno(errno::EMFILE);
    pub const ENOTTY: Errno = Errno(errno::ENOTTY);
    pub const EFBIG: Errno = Errno(errno::EFBIG);
    pub const ENOSPC: Errno = Errno(errno::ENOSPC);
    pub const ESPIPE: Errno = Errno(errno::ESPIPE);
    pub const EROFS: Errno = Errno(errno::EROFS);
    pub const EMLINK: Errno = Errno(errno::EMLINK);
    pub const EPIPE: Errno = Errno(errno::EPIPE);
    pub const ERANGE: Errno = Errno(errno::ERANGE);
    pub const ENAMETOOLONG: Errno = Errno(errno::ENAMETOOLONG);
    pub const ENOSYS: Errno = Errno(errno::ENOSYS);
    pub const ENOTEMPTY: Errno = Errno(errno::ENOTEMPTY);
    pub const ELOOP: Errno = Errno(errno::ELOOP);
    pub const ENODATA: Errno = Errno(errno::ENODATA);
    pub const ELIBBAD: Errno = Errno(errno::ELIBBAD);
    pub const EOVERFLOW: Errno = Errno(errno::EOVERFLOW);
    pub const ENOTSOCK: Errno = Errno(errno::ENOTSOCK);
    pub const EOPNOTSUPP: Errno = Errno(errno::EOPNOTSUPP);
    pub const ENOTSUP: Errno = Errno(errno::EOPNOTSUPP);
    pub const ETIMEDOUT: Errno = Errno(errno::ETIMEDOUT);
    pub const ERESTARTSYS: Errno = Errno(guest_abi::restart::ERESTARTSYS);
    pub const ERESTARTNOHAND: Errno = Errno(guest_abi::restart::ERESTARTNOHAND);

    pub fn name(self) -> &'static str {
        errno::name(self.0).unwrap_or("E?")
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}
