//! Command line of umk-rootfs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use umk_rootfs::build::{build, BuildOptions, UuidChoice};
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
    }
    Ok(())
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
