//! Command line of umk-rootfs.

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use umk_rootfs::build::{build, BuildOptions, UuidChoice};
use umk_rootfs::inspect;
use umk_rootfs::size::human;

#[derive(Parser)]
#[command(name = "umk-rootfs", version, about = "Build and inspect ext4 root filesystem images for umk")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build an ext4 image from a directory or a tarball (.tar, .tar.gz, .tar.xz, .tar.zst).
    Build {
        /// Source directory or tarball; the compression is detected from the content.
        #[arg(long, value_name = "SRC")]
        from: PathBuf,
        /// Image file to write.
        #[arg(short, long, value_name = "IMAGE")]
        output: PathBuf,
        /// Image size, e.g. 512M, 2G or a byte count (default: content plus headroom).
        #[arg(long)]
        size: Option<String>,
        /// Overwrite IMAGE if it exists.
        #[arg(long)]
        force: bool,
        /// Filesystem UUID: a UUID, or "random" (default: derived from the tree, reproducible).
        #[arg(long)]
        uuid: Option<String>,
        /// Filesystem label.
        #[arg(long)]
        label: Option<String>,
        /// Never show a progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// List a directory of an image like `ls -la` (read with umk's ext4 driver).
    Ls {
        image: PathBuf,
        /// Path inside the image (default: /).
        #[arg(default_value = "/")]
        path: OsString,
        /// List subdirectories recursively.
        #[arg(short = 'R', long)]
        recursive: bool,
    },
    /// Write a file of an image to stdout (read with umk's ext4 driver).
    Cat { image: PathBuf, path: OsString },
    /// Read every directory, inode, file and symlink reachable from the root; report problems.
    Check { image: PathBuf },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Build { from, output, size, force, uuid, label, quiet } => {
            let uuid = match uuid.as_deref() {
                None => UuidChoice::Derived,
                Some("random") => UuidChoice::Random,
                Some(u) => UuidChoice::Fixed(u.to_string()),
            };
            let opts = BuildOptions { from, output, size, force, uuid, label, progress: !quiet };
            let report = build(&opts)?;
            if !quiet {
                eprintln!(
                    "umk-rootfs: wrote {} ({}, {} of content, {} inodes)",
                    report.image.display(),
                    human(report.size),
                    human(report.content),
                    report.inodes
                );
            }
        }
        Cmd::Ls { image, path, recursive } => {
            let fs = inspect::open(&image)?;
            let mut out = BufWriter::new(io::stdout().lock());
            inspect::ls(&fs, path.as_bytes(), recursive, &mut out)?;
            out.flush().or_else(ignore_broken_pipe)?;
        }
        Cmd::Cat { image, path } => {
            let fs = inspect::open(&image)?;
            // Large writes straight to the stdout fd: no extra buffering layer.
            let mut out = io::stdout().lock();
            inspect::cat(&fs, path.as_bytes(), &mut out)?;
            out.flush().or_else(ignore_broken_pipe)?;
        }
        Cmd::Check { image } => {
            let fs = inspect::open(&image)?;
            let report = inspect::check(&fs);
            for problem in &report.problems {
                println!("{problem}");
            }
            eprintln!(
                "umk-rootfs: checked {} inodes in {} directories, {} of data: {}",
                report.inodes,
                report.directories,
                human(report.bytes),
                if report.problems.is_empty() { "no problems".to_string() } else { format!("{} problem(s)", report.problems.len()) }
            );
            if !report.problems.is_empty() {
                return Err(inspect::InspectError::Problems(report.problems.len()).into());
            }
        }
    }
    Ok(())
}

fn ignore_broken_pipe(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the whole cause chain, outermost first.
            eprintln!("umk-rootfs: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
