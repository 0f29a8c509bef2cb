//! Differential test: Linux is the specification.
//!
//! Each scenario is a list of operations (set termios, type bytes, read,
//! write, ...). We run it twice: on a real Linux pty, driven by a small
//! `python3` script (the pty *master* plays the console, the *slave* plays
//! the guest's terminal, and the script is the slave's session leader so
//! it receives the ISIG signals), and on [`LineDiscipline`]. The two
//! transcripts must be identical.
//!
//! Without `python3` or `/dev/ptmx` the test is skipped with a message.
//!
//! The pty's input processing runs asynchronously in Linux (a workqueue),
//! so the script sleeps 50 ms after typing and drains the master until it
//! has been quiet for 30 ms. Operations are separate steps for the same
//! reason: Linux only discards echo it has not yet delivered, so "abc" then
//! "^C" as two steps shows "abc^C", while "abc^C" in one step shows "^C".

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use guest_abi::termios::*;

use super::ldisc::LineDiscipline;

/// One step of a scenario.
#[derive(Clone)]
enum Op {
    /// `tcsetattr(TCSANOW)`.
    Set(Termios),
    /// The user types these bytes; the transcript lists signals received.
    In(Vec<u8>),
    /// Non-blocking `read(slave, n)`.
    Read(usize),
    /// `write(slave, ...)`.
    Write(Vec<u8>),
    /// Everything the console received since the previous `Out`.
    Out,
    /// `ioctl(FIONREAD)`.
    Inq,
    /// `tcflush(TCIFLUSH)`.
    FlushInput,
}

struct Scenario {
    name: &'static str,
    ops: Vec<Op>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Linux's `tty_std_termios`-like default we start every scenario from.
fn base() -> Termios {
    default_termios()
}

fn with(f: impl FnOnce(&mut Termios)) -> Termios {
    let mut t = base();
    f(&mut t);
    t
}

/// Non-canonical, no echo, no signals: the usual "raw" mode of editors.
fn raw(f: impl FnOnce(&mut Termios)) -> Termios {
    with(|t| {
        t.c_lflag &= !(ICANON | ECHO | ISIG | IEXTEN);
        t.c_iflag &= !(ICRNL | IXON);
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        f(t)
    })
}

fn scenarios() -> Vec<Scenario> {
    use Op::*;
    let s = |name, mut ops: Vec<Op>| {
        // Every scenario starts from known settings and ends by showing
        // what reached the console.
        ops.insert(0, Set(base()));
        ops.push(Out);
        Scenario { name, ops }
    };
    let inp = |b: &[u8]| In(b.to_vec());
    vec![
        s("canon_line_and_echo", vec![inp(b"hello\r"), Read(100), Read(100)]),
        s("erase_ascii", vec![inp(b"abc\x7f\x7fd\r"), Read(100)]),
        s("erase_removes_whole_utf8_char", vec![inp("hé世\x7f\x7f!\r".as_bytes()), Read(100)]),
        s(
            "erase_bytes_without_iutf8",
            vec![Set(with(|t| t.c_iflag &= !IUTF8)), inp("hé\x7f!\r".as_bytes()), Read(100)],
        ),
        s("werase_words", vec![inp(b"foo bar_baz  \x17x\x17\x17\r"), Read(100)]),
        s("werase_latin1_letters", vec![inp("ab héllo wörld\x17\r".as_bytes()), Read(100)]),
        s("kill_echoke", vec![inp(b"ab\x01c\x15d\r"), Read(100)]),
        s(
            "kill_echok_without_echoke",
            vec![Set(with(|t| t.c_lflag &= !ECHOKE)), inp(b"abc\x15d\r"), Read(100)],
        ),
        s(
            "kill_without_echok",
            vec![Set(with(|t| t.c_lflag &= !(ECHOK | ECHOKE))), inp(b"abc\x15d\r"), Read(100)],
        ),
        s("echoctl_shows_caret", vec![inp(b"a\x01\x1b\x7f\x7f\t\r"), Read(100)]),
        s(
            "no_echoctl_echoes_raw",
            vec![Set(with(|t| t.c_lflag &= !ECHOCTL)), inp(b"a\x01b\x7f\r"), Read(100)],
        ),
        s(
            "vintr_sends_sigint_and_flushes",
            vec![inp(b"ab\rcd"), inp(b"\x03"), Inq, Read(100), inp(b"e\r"), Read(100)],
        ),
        s(
            "noflsh_keeps_input",
            vec![
                Set(with(|t| t.c_lflag |= NOFLSH)),
                inp(b"ab"),
                inp(b"\x1c"),
                inp(b"c\x1a\r"),
                Read(100),
            ],
        ),
        s(
            "veof_at_line_start_reads_zero",
            vec![inp(b"\x04"), Read(100), Read(100), inp(b"ab\x04"), Read(100), Read(100)],
        ),
        s("veof_exact_fill_skips_marker", vec![inp(b"cd\x04"), Read(2), Read(100)]),
        s("short_read_splits_line", vec![inp(b"abcdef\r"), Read(4), Read(100), Read(100)]),
        s("fionread_counts_complete_lines", vec![inp(b"ab\rcd\r\x04ef"), Inq]),
        s(
            "veol_and_veol2",
            vec![
                Set(with(|t| {
                    t.c_cc[VEOL] = b'!';
                    t.c_cc[VEOL2] = b'#';
                })),
                inp(b"ab!cd#e"),
                Read(100),
                Read(100),
                Read(100),
            ],
        ),
        s("vlnext_quotes", vec![inp(b"\x16\x03\x16\x7f\x16\x15\r"), Read(100)]),
        s("vreprint_redraws", vec![inp(b"abc\x12"), inp(b"d\r"), Read(100)]),
        s(
            "echonl_without_echo",
            vec![Set(with(|t| t.c_lflag = (t.c_lflag & !ECHO) | ECHONL)), inp(b"ab\r"), Read(100)],
        ),
        s(
            "echoprt_hardcopy_erase",
            vec![Set(with(|t| t.c_lflag |= ECHOPRT)), inp("abé\x7f\x7fd\r".as_bytes()), Read(100)],
        ),
        s(
            "tab_erase_after_prompt",
            vec![Write(b"$ ".to_vec()), inp(b"ab\t\x7fc\x7f\x7f\t\x7f\r"), Read(100)],
        ),
        s("tab_erase_after_tab", vec![inp(b"a\tbc\t\x7f\x7f\r"), Read(100)]),
        s(
            "icanon_off_releases_partial_line",
            vec![inp(b"x\x04abc"), Set(raw(|_| ())), Inq, Read(100)],
        ),
        s("icanon_on_makes_a_line", vec![Set(raw(|_| ())), inp(b"abc"), Set(base()), Read(100)]),
        s(
            "raw_mode_translations",
            vec![
                Set(raw(|t| t.c_iflag |= INLCR | IGNCR)),
                inp(b"a\rb\nc"),
                Read(100),
                Set(raw(|t| t.c_iflag |= ICRNL | ISTRIP)),
                inp(b"\r\xe9"),
                Read(100),
            ],
        ),
        s(
            "vmin0_vtime0_polls",
            vec![Set(raw(|t| t.c_cc[VMIN] = 0)), Read(10), inp(b"xy"), Read(10)],
        ),
        s(
            "isig_in_raw_mode",
            vec![
                Set(raw(|t| t.c_lflag |= ISIG | ECHO | ECHOCTL)),
                inp(b"ab\x03"),
                inp(b"c\x1a"),
                Read(10),
            ],
        ),
        s("ixon_stops_output", vec![inp(b"\x13"), inp(b"abc"), Out, inp(b"\x11"), Out, Read(10)]),
        s("ixany_restarts", vec![Set(with(|t| t.c_iflag |= IXANY)), inp(b"\x13"), inp(b"a"), Out]),
        s("ctrl_c_restarts_stopped_output", vec![inp(b"\x13x"), inp(b"\x03")]),
        s("iuclc_folds_case", vec![Set(with(|t| t.c_iflag |= IUCLC)), inp(b"ABc\r"), Read(100)]),
        s("parmrk_doubles_ff", vec![Set(raw(|t| t.c_iflag |= PARMRK)), inp(b"a\xff"), Read(10)]),
        s("onlcr_translates_newline", vec![Write(b"a\nb\r\n\tc\x08d".to_vec())]),
        s(
            "opost_flags",
            vec![
                Set(with(|t| t.c_oflag = OPOST | OCRNL | ONOCR)),
                Write(b"\rab\rc\n".to_vec()),
                Out,
                Set(with(|t| t.c_oflag = OPOST | ONLRET | ONOCR | OLCUC)),
                Write("ab\n\rcé\t.".as_bytes().to_vec()),
                Out,
                Set(with(|t| t.c_oflag = OPOST | ONLCR | 0o14000)),
                Write(b"a\tbc\td\n\t".to_vec()),
                Out,
                Set(with(|t| t.c_oflag = 0)),
                Write(b"x\ny\t".to_vec()),
            ],
        ),
        s(
            "tcflush_input",
            vec![inp(b"abc\rde"), FlushInput, Inq, Read(100), inp(b"f\r"), Read(100)],
        ),
        s("canon_read_blocks_without_line", vec![inp(b"abc"), Read(100), Inq]),
        s(
            "erase_without_echoe_echoes_erase_char",
            vec![Set(with(|t| t.c_lflag &= !ECHOE)), inp(b"ab\x7f\r"), Read(100)],
        ),
        s("kill_erases_utf8_and_ctrl", vec![inp("xé\x01\x15y\r".as_bytes()), Read(100)]),
        s(
            "no_echo_signals_silent",
            vec![Set(with(|t| t.c_lflag &= !ECHO)), inp(b"ab\x03c\r"), Read(100)],
        ),
        s("werase_only_spaces_and_empty", vec![inp(b"\x17  \x17\x7f\r"), Read(100)]),
        s("vlnext_veof_is_data", vec![inp(b"\x16\x04\r"), Read(100)]),
        s("tab_erase_counts_utf8_once", vec![inp("é\x01\t\x7f\r".as_bytes()), Read(100)]),
        s(
            "full_buffer_backlog_and_lookahead_ixon",
            vec![
                Set(raw(|t| {
                    t.c_lflag |= ECHO;
                    t.c_iflag |= IXON;
                })),
                inp(&[b'a'; 4200]),
                inp(b"\x13b"),
                Inq,
                Out,
                Read(4096),
                Inq,
                Out,
                inp(b"\x11"),
                Out,
                Read(4096),
            ],
        ),
        s("long_line_truncated", vec![inp(&[b'a'; 5000]), inp(b"\x7f\x7fb\r"), Inq, Read(8192)]),
    ]
}

/// The transcript of a scenario on our state machine.
fn run_model(sc: &Scenario) -> String {
    let mut ld = LineDiscipline::new();
    let mut acc = Vec::new();
    let mut t = String::new();
    for op in &sc.ops {
        match op {
            Op::Set(tio) => ld.set_termios(*tio),
            Op::In(b) => {
                let sigs: Vec<String> = ld
                    .receive_input(b)
                    .iter()
                    .map(|super::InputEffect::Signal(s)| s.to_string())
                    .collect();
                writeln!(t, "in sigs={}", sigs.join(",")).unwrap();
            }
            Op::Read(n) => {
                let mut buf = vec![0; *n];
                match ld.read_nonblocking(&mut buf) {
                    Some(k) => writeln!(t, "read {}", hex(&buf[..k])).unwrap(),
                    None => writeln!(t, "read EAGAIN").unwrap(),
                }
            }
            Op::Write(b) => writeln!(t, "write {}", ld.write(b)).unwrap(),
            Op::Out => writeln!(t, "out {}", hex(&std::mem::take(&mut acc))).unwrap(),
            Op::Inq => writeln!(t, "inq {}", ld.readable()).unwrap(),
            Op::FlushInput => ld.flush_input(),
        }
        // The console takes output as soon as it appears.
        ld.take_output_into(&mut acc);
    }
    t
}

/// Runs every scenario in a forked child that is the session leader of a
/// fresh pty, so ISIG signals reach it.
const SCRIPT: &str = r#"
import os, sys, termios, fcntl, signal, struct, time, select

def drain(m, acc):
    while True:
        r, _, _ = select.select([m], [], [], 0.03)
        if not r:
            return
        try:
            acc += os.read(m, 65536)
        except OSError:
            return

def run(ops):
    os.setsid()
    m, s = os.openpty()
    fcntl.ioctl(s, termios.TIOCSCTTY, 0)
    got = []
    for sg in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sg, lambda n, f: got.append(n))
    os.set_blocking(s, False)
    acc = bytearray()
    out = []
    for op in ops:
        w = op.split(' ')
        if w[0] == 'set':
            ifl, ofl, cfl, lfl = (int(x) for x in w[1:5])
            cc = [int(x) for x in w[5].split(',')]
            cc += [0] * (32 - len(cc))
            termios.tcsetattr(s, termios.TCSANOW, [ifl, ofl, cfl, lfl, termios.B38400, termios.B38400, cc])
        elif w[0] == 'in':
            del got[:]
            os.write(m, bytes.fromhex(w[1]))
            time.sleep(0.05)
            out.append('in sigs=' + ','.join(str(int(x)) for x in got))
        elif w[0] == 'read':
            try:
                out.append('read ' + os.read(s, int(w[1])).hex())
            except BlockingIOError:
                out.append('read EAGAIN')
        elif w[0] == 'write':
            out.append('write %d' % os.write(s, bytes.fromhex(w[1])))
        elif w[0] == 'out':
            drain(m, acc)
            out.append('out ' + bytes(acc).hex())
            acc.clear()
        elif w[0] == 'inq':
            n = struct.unpack('i', fcntl.ioctl(s, termios.FIONREAD, b'\0\0\0\0'))[0]
            out.append('inq %d' % n)
        elif w[0] == 'flushin':
            termios.tcflush(s, termios.TCIFLUSH)
        drain(m, acc)
    return out

scenarios = sys.stdin.read().split('\n\n')
for sc in scenarios:
    lines = [l for l in sc.split('\n') if l]
    if not lines:
        continue
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            res = '\n'.join(run(lines[1:])) + '\n'
        except Exception as e:
            res = 'error %r\n' % (e,)
        os.write(w, res.encode())
        os._exit(0)
    os.close(w)
    data = b''
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    sys.stdout.write('== ' + lines[0] + '\n' + data.decode())
"#;

fn encode(sc: &Scenario) -> String {
    let mut s = format!("{}\n", sc.name);
    for op in &sc.ops {
        match op {
            Op::Set(t) => {
                let cc: Vec<String> = t.c_cc.iter().map(|c| c.to_string()).collect();
                writeln!(
                    s,
                    "set {} {} {} {} {}",
                    t.c_iflag,
                    t.c_oflag,
                    t.c_cflag,
                    t.c_lflag,
                    cc.join(",")
                )
                .unwrap();
            }
            Op::In(b) => writeln!(s, "in {}", hex(b)).unwrap(),
            Op::Read(n) => writeln!(s, "read {n}").unwrap(),
            Op::Write(b) => writeln!(s, "write {}", hex(b)).unwrap(),
            Op::Out => writeln!(s, "out").unwrap(),
            Op::Inq => writeln!(s, "inq").unwrap(),
            Op::FlushInput => writeln!(s, "flushin").unwrap(),
        }
    }
    s
}

/// Transcripts from a real Linux pty, one per scenario, or `None` if this
/// host cannot run the oracle.
fn run_linux(scs: &[Scenario]) -> Option<Vec<String>> {
    if !std::path::Path::new("/dev/ptmx").exists() {
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()?;
    let input: Vec<String> = scs.iter().map(encode).collect();
    child.stdin.take()?.write_all(input.join("\n").as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let parts: Vec<String> =
        text.split("== ").skip(1).map(|p| p.split_once('\n').unwrap().1.to_string()).collect();
    (parts.len() == scs.len()).then_some(parts)
}

#[test]
fn ldisc_matches_linux_pty() {
    let scs = scenarios();
    let Some(linux) = run_linux(&scs) else {
        eprintln!("SKIPPED ldisc_matches_linux_pty: python3 or /dev/ptmx unavailable");
        return;
    };
    let mut failures = Vec::new();
    for (sc, want) in scs.iter().zip(&linux) {
        let got = run_model(sc);
        // `PTY_DIFF_SHOW=1 cargo test pty_diff -- --nocapture` prints what
        // Linux did: handy when writing a new scenario.
        if std::env::var("PTY_DIFF_SHOW").is_ok() {
            eprintln!("--- {}\n{}", sc.name, want);
        }
        if &got != want {
            failures.push(format!("--- {}\nlinux:\n{}model:\n{}", sc.name, want, got));
        }
    }
    eprintln!(
        "pty differential: {}/{} scenarios match Linux",
        scs.len() - failures.len(),
        scs.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
