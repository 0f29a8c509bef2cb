//! Command line of umk-rootfs.

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use umk_rootfs::build::{build, BuildOptions, UuidChoice};
use umk_rootfs::commit::{commit, CommitOptions};
use umk_rootfs::inspect::{self, VfsTree};
use umk_rootfs::merged;
use umk_rootfs::size::human;

#[derive(Parser)]
#[command(
    name = "umk-rootfs",
    version,
    about = "Build, inspect and commit ext4 root filesystem images for umk"
)]
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
    /// Flatten a base image and a VM's overlay into a new ext4 image with exactly what the guest saw.
    ///
    /// The overlay is read without taking its lock, so the overlay of a
    /// running VM can be committed: the result is a snapshot of what that
    /// VM has written to its overlay (everything it synced).
    Commit {
        /// The base image the overlay was made for.
        #[arg(long, value_name = "BASE")]
        image: PathBuf,
        /// The VM's overlay file.
        #[arg(long, value_name = "OVL")]
        overlay: PathBuf,
        /// Image file to write.
        #[arg(short, long, value_name = "NEW")]
        output: PathBuf,
        /// Overwrite NEW if it exists.
        #[arg(long)]
        force: bool,
        /// Image size, e.g. 512M, 2G or a byte count (default: content plus headroom).
        #[arg(long)]
        size: Option<String>,
        /// Do not report what was written.
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
        /// Show the image with this VM overlay on top (the guest's view).
        #[arg(long, value_name = "OVL")]
        overlay: Option<PathBuf>,
    },
    /// Write a file of an image to stdout (read with umk's ext4 driver).
    Cat {
        image: PathBuf,
        path: OsString,
        /// Read the image with this VM overlay on top (the guest's view).
        #[arg(long, value_name = "OVL")]
        overlay: Option<PathBuf>,
    },
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
        Cmd::Commit { image, overlay, output, force, size, quiet } => {
            let report = commit(&CommitOptions { image, overlay, output, force, size })?;
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
        Cmd::Ls { image, path, recursive, overlay } => {
            let mut out = BufWriter::new(io::stdout().lock());
            match overlay {
                None => inspect::ls(&inspect::open(&image)?, path.as_bytes(), recursive, &mut out)?,
                Some(ovl) => {
                    let merged = merged::open(&image, &ovl)?;
                    inspect::ls(
                        &VfsTree::new(merged.root.clone()),
                        path.as_bytes(),
                        recursive,
                        &mut out,
                    )?
                }
            }
            out.flush().or_else(ignore_broken_pipe)?;
        }
        Cmd::Cat { image, path, overlay } => {
            // Large writes straight to the stdout fd: no extra buffering layer.
            let mut out = io::stdout().lock();
            match overlay {
                None => inspect::cat(&inspect::open(&image)?, path.as_bytes(), &mut out)?,
                Some(ovl) => {
                    let merged = merged::open(&image, &ovl)?;
                    inspect::cat(&VfsTree::new(merged.root.clone()), path.as_bytes(), &mut out)?
                }
            };
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
                if report.problems.is_empty() {
                    "no problems".to_string()
                } else {
                    format!("{} problem(s)", report.problems.len())
                }
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
