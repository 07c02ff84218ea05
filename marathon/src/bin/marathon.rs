//! The `marathon` binary (flags and wiring come with the server).
fn main() {
    eprintln!("marathon: the server is not built yet");
    std::process::exit(2);
}
