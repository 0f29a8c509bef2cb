fn main() {
    let code = umk::cli::main();
    umk::console::restore();
    std::process::exit(code);
}
