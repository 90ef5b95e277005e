//! Times `symnn_codegen::expand` on a DSL body read from a file: the macro's own cost,
//! without rustc. Prints the median of `runs` expansions (default 5) in milliseconds,
//! the number of parameters and the size of the generated code.
//!
//! `cargo run --release -p symnn-codegen --example expand_time -- net.dsl [runs]`
//! (used by `benches/compile_cost/run.py`).
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: expand_time FILE.dsl [runs]");
    let runs: usize = args.next().map_or(5, |r| r.parse().expect("runs"));
    let source = std::fs::read_to_string(&path).expect("readable file");
    let tokens: proc_macro2::TokenStream = source.parse().expect("valid Rust tokens");
    let params = match symnn_codegen::derive(tokens.clone()) {
        Ok((_, derived)) => derived.program.num_params(),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let mut times = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let out = symnn_codegen::expand(tokens.clone());
        times.push(start.elapsed().as_secs_f64() * 1e3);
        bytes = out.to_string().len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "expand_ms={:.2} params={params} generated_bytes={bytes}",
        times[times.len() / 2]
    );
}
