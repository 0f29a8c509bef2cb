//! Debian's dynamically linked programs as guests: bash and coreutils
//! with their shared libraries, loaded through ld-linux-x86-64.so.2 from
//! the image. Where the host has the same Debian programs, their output
//! natively and inside umk is compared.

mod common;
use common::*;

fn bash(script: &str) -> std::process::Output {
    umk_run(&debian_image(), &[], &["/bin/bash", "-c", script], b"")
}

#[test]
fn bash_runs_with_its_libraries() {
    let out = bash("echo \"$BASH_VERSION\" | cut -d. -f1; a=(x y z); echo ${#a[@]} ${a[1]}; f() { echo \"in f $1\"; }; f arg; echo $(( 2 ** 10 ))");
    assert_eq!(stdout(&out), "5\n3 y\nin f arg\n1024\n", "stderr: {}", stderr(&out));
}

#[test]
fn bash_pipelines_subshells_and_process_substitution() {
    let out = bash("seq 5 | while read n; do echo $((n*n)); done | paste -sd+ | bc 2>/dev/null || { s=0; for n in 1 4 9 16 25; do s=$((s+n)); done; echo $s; }; diff <(echo a) <(echo a) && echo same; cat <<EOF\nheredoc $((3+4))\nEOF");
    assert_eq!(stdout(&out), "55\nsame\nheredoc 7\n", "stderr: {}", stderr(&out));
}

#[test]
fn coreutils_basics() {
    let out = bash("cd /tmp && printf 'b\\na\\nc\\n' > f && sort f | tr '\\n' ,; echo; wc -c < f; md5sum f | cut -c1-32; cp f g && cmp f g && echo cmp-ok; mkdir -p d/e && mv g d/e/ && ls d/e; rm -r d; ls; stat -c '%s %F' f; id -u; basename /a/b/c.txt .txt; date +%Y | grep -c '^20'");
    assert_eq!(
        stdout(&out),
        "a,b,c,\n6\n0f38e5ac6d3b8c3c9a3e0a5e8e9f8c46\ncmp-ok\ng\nf\n6 regular file\n0\nc\n1\n"
            .replace("0f38e5ac6d3b8c3c9a3e0a5e8e9f8c46", &md5_of(b"b\na\nc\n")),
        "stderr: {}",
        stderr(&out)
    );
}

fn md5_of(data: &[u8]) -> String {
    let tmp = work().join("md5-input");
    std::fs::write(&tmp, data).unwrap();
    let out = std::process::Command::new("md5sum").arg(&tmp).output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..32].to_string()
}

/// The same `ls` over the same fixture tree, natively (host coreutils,
/// the same Debian package) and in the guest.
#[test]
fn ls_of_the_fixture_matches_native() {
    let image = debian_image();
    let native_fixture = work().join("guest/fixture");
    // link_abs names the tree's absolute root, which differs by design.
    let cmd = "ls -lnR --time-style=+ . | grep -v -e '^total' -e link_abs | sed 's/  */ /g'";
    let native = std::process::Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .current_dir(&native_fixture)
        .output()
        .unwrap();
    let guest = umk_run(&image, &["--workdir", "/fixture"], &["/bin/bash", "-c", cmd], b"");
    assert_eq!(
        stdout(&guest),
        String::from_utf8_lossy(&native.stdout),
        "stderr: {}",
        stderr(&guest)
    );
}

#[test]
fn exit_status_and_signals_through_bash() {
    let out = bash("sh -c 'exit 3'; echo $?; sleep 10 & kill -TERM $!; wait $!; echo $?; (trap 'echo trapped' USR1; kill -USR1 $BASHPID; echo after)");
    assert_eq!(stdout(&out), "3\n143\ntrapped\nafter\n", "stderr: {}", stderr(&out));
}
