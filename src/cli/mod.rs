//! The `umk` command line.

use clap::{Parser, Subcommand};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "umk",
    version,
    about = "A user-mode kernel: boot a Linux guest from an ext4 image, no root needed"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Boot IMAGE and run CMD (default: /sbin/init, else /bin/sh) as pid 1.
    Run(RunArgs),
    /// Print umk's system call table: number, name, support.
    Syscalls,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The root filesystem image (ext2/3/4), e.g. made by umk-rootfs build.
    #[arg(long, value_name = "IMAGE")]
    pub image: PathBuf,
    /// Keep the guest's changes in memory only; they vanish on exit.
    #[arg(long, conflicts_with = "overlay")]
    pub ephemeral: bool,
    /// The file that keeps this VM's changes (default: IMAGE.overlay).
    #[arg(long, value_name = "PATH")]
    pub overlay: Option<PathBuf>,
    /// Set an environment variable for pid 1 (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The working directory of pid 1 inside the guest.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub workdir: String,
    /// The guest's hostname (uname -n).
    #[arg(long, value_name = "NAME", default_value = "umk")]
    pub hostname: String,
    /// Trace every guest syscall, signal and exit, as strace shows them
    /// but from inside the kernel (virtual pids, guest paths). Goes to
    /// stderr, or FILE; with a terminal console, to ./umk.trace unless a
    /// FILE (e.g. /dev/stderr) is named.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub trace: Option<String>,
    /// Trace output format.
    #[arg(long, value_name = "text|json", default_value = "text")]
    pub trace_format: String,
    /// Only trace these: classes (file, process, signal, network, memory,
    /// desc, ipc) and syscall names, comma-separated, like strace -e.
    #[arg(long, value_name = "SPEC")]
    pub trace_filter: Option<String>,
    /// On exit, print a table of syscalls (calls, errors, time in umk) and
    /// the list of syscalls umk answered with ENOSYS.
    #[arg(long)]
    pub stats: bool,
    /// Host CPUs the VM may use: "1" (default: umk and every guest process
    /// on the CPU umk starts on, which makes each trapped syscall several
    /// times cheaper) or "all" (guest processes spread over every CPU, for
    /// parallel CPU-bound work).
    #[arg(long, value_name = "1|all", default_value = "1")]
    pub cpus: String,
    /// Log unimplemented system calls and umk's notes to stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// The command to run and its arguments.
    #[arg(last = true, value_name = "CMD")]
    pub cmd: Vec<std::ffi::OsString>,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Syscalls => {
            print!("{}", crate::kernel::syscall::describe_table());
            0
        }
        Command::Run(a) => {
            for e in &a.env {
                if !e.contains('=') || e.starts_with('=') {
                    eprintln!("umk: --env {e}: expected KEY=VALUE");
                    return 125;
                }
            }
            if !a.workdir.starts_with('/') {
                eprintln!("umk: --workdir {}: must be an absolute path in the guest", a.workdir);
                return 125;
            }
            let format = match a.trace_format.as_str() {
                "text" => crate::kernel::trace::TraceFormat::Text,
                "json" => crate::kernel::trace::TraceFormat::Json,
                other => {
                    eprintln!("umk: --trace-format {other}: expected text or json");
                    return 125;
                }
            };
            let filter =
                match a.trace_filter.as_deref().map(crate::kernel::trace::TraceFilter::parse) {
                    None => crate::kernel::trace::TraceFilter::all(),
                    Some(Ok(f)) => f,
                    Some(Err(e)) => {
                        eprintln!("umk: --trace-filter: {e}");
                        return 125;
                    }
                };
            let one_cpu = match a.cpus.as_str() {
                "1" => true,
                "all" => false,
                other => {
                    eprintln!("umk: --cpus {other}: expected 1 or all");
                    return 125;
                }
            };
            let trace = crate::vm::TraceOptions {
                trace: a.trace.clone(),
                config: crate::kernel::trace::TraceConfig { format, filter, string_limit: 32 },
                stats: a.stats,
            };
            let cfg = crate::vm::VmConfig {
                trace,
                image: a.image,
                overlay: a.overlay,
                argv: if a.cmd.is_empty() {
                    None
                } else {
                    Some(a.cmd.iter().map(|s| s.as_bytes().to_vec()).collect())
                },
                env: a.env.iter().map(|s| s.as_bytes().to_vec()).collect(),
                workdir: a.workdir.into_bytes(),
                hostname: a.hostname.into_bytes(),
                ephemeral: a.ephemeral,
                verbose: a.verbose,
                one_cpu,
            };
            match crate::vm::run(cfg) {
                Ok(code) => code,
                Err(e) => {
                    crate::console::restore();
                    eprintln!("umk: {e}");
                    e.exit_code()
                }
            }
        }
    }
}
