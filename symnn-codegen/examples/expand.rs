//! Prints the Rust that `network!` generates for a DSL body read from a file or stdin,
//! and the derivation: `cargo run -p symnn-codegen --example expand -- net.dsl`.
use std::io::Read;

fn main() {
    let mut source = String::new();
    match std::env::args().nth(1) {
        Some(path) => source = std::fs::read_to_string(path).expect("readable file"),
        None => {
            std::io::stdin()
                .read_to_string(&mut source)
                .expect("readable stdin");
        }
    }
    let tokens: proc_macro2::TokenStream = source.parse().expect("valid Rust tokens");
    match symnn_codegen::derive(tokens.clone()) {
        Ok((_, derived)) => println!("{}", derived.derivation),
        Err(e) => eprintln!("error: {e}"),
    }
    let out = symnn_codegen::expand(tokens);
    match syn::parse2::<syn::File>(out.clone()) {
        Ok(file) => println!("{}", prettyplease::unparse(&file)),
        Err(_) => println!("{out}"),
    }
}
