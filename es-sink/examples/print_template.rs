//! Prints the index template the sink puts, for scripts that set up a cluster by hand.
//!
//! cargo run -p es-sink --example print_template [-- <index_prefix>]

fn main() {
    let prefix = std::env::args()
        .nth(1)
        .unwrap_or_else(|| es_sink::bulk::DEFAULT_INDEX_PREFIX.to_owned());
    println!("{}", es_sink::template::index_template(&prefix));
}
