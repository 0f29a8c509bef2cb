//! The host terminal: raw mode while the guest runs, always restored.
//!
//! [`RawMode`] saves the terminal settings and switches to raw mode; its
//! Drop restores them, also while a panic unwinds, and `main` restores once
//! more before exiting, so every exit path that runs any code at all
//! (normal exit, error, SIGTERM, SIGHUP, panic) leaves the terminal as it
//! found it. (A panic inside one guest event is caught by the VM loop and
//! must not restore the terminal under a running guest: no panic hook.)
#![allow(unsafe_code)]

use guest_abi::termios::WinSize;
use std::sync::Mutex;

static SAVED: Mutex<Option<(i32, libc::termios)>> = Mutex::new(None);

/// Whether fd is a terminal.
pub fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd) == 1 }
}

/// The terminal's window size, if fd is a terminal.
pub fn winsize(fd: i32) -> Option<WinSize> {
    let mut ws: libc::winsize = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one struct winsize.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    if r != 0 {
        return None;
    }
    Some(WinSize {
        ws_row: ws.ws_row,
        ws_col: ws.ws_col,
        ws_xpixel: ws.ws_xpixel,
        ws_ypixel: ws.ws_ypixel,
    })
}

/// Restores the saved terminal settings (idempotent).
pub fn restore() {
    let saved = SAVED.lock().map(|mut s| s.take()).unwrap_or(None);
    if let Some((fd, t)) = saved {
        // SAFETY: tcsetattr with settings tcgetattr gave us.
        unsafe {
            libc::tcsetattr(fd, libc::TCSADRAIN, &t);
        }
    }
}

/// The terminal in raw mode for as long as this lives.
pub struct RawMode {
    _private: (),
}

impl RawMode {
    pub fn enter(fd: i32) -> std::io::Result<RawMode> {
        // SAFETY: termios is plain data; tcgetattr fills it.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is a terminal, `t` is a valid termios.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if let Ok(mut s) = SAVED.lock() {
            *s = Some((fd, t));
        }
        let mut raw = t;
        // SAFETY: cfmakeraw edits the struct in place.
        unsafe {
            libc::cfmakeraw(&mut raw);
        }
        // Keep output post-processing off too: the guest's line discipline
        // already did ONLCR.
        // SAFETY: tcsetattr with a valid termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSADRAIN, &raw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(RawMode { _private: () })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Reads host fd 0 until EOF, handing each chunk to `f`.
pub fn read_stdin(mut f: impl FnMut(Option<Vec<u8>>)) {
    let mut buf = vec![0u8; 65536];
    loop {
        // SAFETY: read into our buffer.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            f(Some(buf[..n as usize].to_vec()));
        } else if n == 0
            || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
        {
            f(None);
            return;
        }
    }
}

/// Writes all of `data` to a host fd, retrying on EINTR and short writes.
pub fn write_all(fd: i32, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: write from our slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n > 0 {
            data = &data[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            // The host end is gone (EPIPE, closed terminal): drop output.
            return;
        }
    }
}
