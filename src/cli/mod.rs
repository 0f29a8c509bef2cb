//! The `umk` command line.

use clap::{Parser, Subcommand};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "umk", version, about = "A user-mode kernel: boot a Linux guest from an ext4 image, no root needed")]
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
            let cfg = crate::vm::VmConfig {
                image: a.image,
                overlay: a.overlay,
                argv: if a.cmd.is_empty() { None } else { Some(a.cmd.iter().map(|s| s.as_bytes().to_vec()).collect()) },
                env: a.env.iter().map(|s| s.as_bytes().to_vec()).collect(),
                workdir: a.workdir.into_bytes(),
                hostname: a.hostname.into_bytes(),
                ephemeral: a.ephemeral,
                verbose: a.verbose,
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
