//! A pseudo-terminal harness: runs a command with a pty as its controlling
//! terminal, the way a person at an ssh terminal would, and types into it.
#![allow(dead_code)]

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Pty {
    pub master: OwnedFd,
    pub slave_path: String,
    pub child: Child,
    pub seen: Vec<u8>,
}

fn check(r: i32, what: &str) -> i32 {
    assert!(r >= 0, "{what}: {}", std::io::Error::last_os_error());
    r
}

impl Pty {
    /// Spawns `cmd` on a new pty of `rows` x `cols`.
    pub fn spawn(mut cmd: Command, rows: u16, cols: u16) -> Pty {
        // SAFETY: plain libc pty calls on fds we own.
        let (master, slave_path) = unsafe {
            let m = check(
                libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC),
                "posix_openpt",
            );
            check(libc::grantpt(m), "grantpt");
            check(libc::unlockpt(m), "unlockpt");
            let mut buf = [0 as libc::c_char; 128];
            check(libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()), "ptsname_r");
            let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
            libc::ioctl(m, libc::TIOCSWINSZ, &ws);
            (OwnedFd::from_raw_fd(m), CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
        };
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave_path)
            .expect("open pty slave");
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on pty");
        Pty { master, slave_path, child, seen: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        // SAFETY: write from our slice to our fd.
        unsafe {
            libc::write(self.master.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
        }
    }

    /// Reads until `needle` appears in what was printed since the last
    /// expect, or panics after `secs`.
    pub fn expect(&mut self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(pos) = find(&self.seen, needle.as_bytes()) {
                let upto = pos + needle.len();
                let out = String::from_utf8_lossy(&self.seen[..upto]).into_owned();
                self.seen.drain(..upto);
                return out;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {needle:?}; screen so far: {:?}",
                String::from_utf8_lossy(&self.seen)
            );
            self.read_some(left.min(Duration::from_millis(100)));
        }
    }

    fn read_some(&mut self, wait: Duration) {
        let mut p = libc::pollfd { fd: self.master.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one pollfd, read into our buffer.
        unsafe {
            if libc::poll(&mut p, 1, wait.as_millis() as i32) > 0 {
                let mut buf = [0u8; 4096];
                let n = libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len());
                if n > 0 {
                    self.seen.extend_from_slice(&buf[..n as usize]);
                } else {
                    std::thread::sleep(wait);
                }
            }
        }
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ on our master; the kernel sends SIGWINCH to the
        // pty's foreground group (umk).
        unsafe {
            libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }

    /// `stty -g`-like snapshot of the terminal settings.
    pub fn termios(&self) -> Vec<u8> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.slave_path)
            .expect("open slave");
        // SAFETY: tcgetattr fills a termios.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            libc::tcgetattr(f.as_raw_fd(), &mut t);
            std::slice::from_raw_parts(
                (&t as *const libc::termios).cast::<u8>(),
                std::mem::size_of::<libc::termios>(),
            )
            .to_vec()
        }
    }

    /// Waits for the child to exit; returns its status code (or 128+signal).
    pub fn wait(&mut self, secs: u64) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                return st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
            }
            assert!(
                Instant::now() < deadline,
                "umk did not exit; screen: {:?}",
                String::from_utf8_lossy(&self.seen)
            );
            self.read_some(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill on our child.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
