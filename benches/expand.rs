//! Time of the symbolic engine itself: `symnn_codegen::expand` (parse, check, lower,
//! differentiate, simplify + CSE, emit) on a `network!` body, i.e. what one `network!`
//! invocation costs at compile time (excluding rustc compiling the emitted code).
//!
//! Targets: 2-8-8-1 tanh MLP < 20 ms, 16-32-32-4 tanh MLP < 300 ms. The 64-32-10 net of
//! the `digits` example (2,410 parameters) is measured too, for the README's limits.
//!
//! Run: `cargo bench --bench expand`. Results: docs/PERFORMANCE.md.
use std::time::{Duration, Instant};

use criterion::{black_box, BatchSize, Criterion};
use proc_macro2::TokenStream;
use quote::quote;

fn mlp_2_8_8_1() -> TokenStream {
    quote! {
        pub struct Mlp {
            input x[2];
            target t[1];
            let h1 = dense(x, 8, tanh);
            let h2 = dense(h1, 8, tanh);
            output y = dense(h2, 1, identity);
            loss = mse(y, t);
        }
    }
}

fn mlp_16_32_32_4() -> TokenStream {
    quote! {
        pub struct Big {
            input x[16];
            target t[4];
            let h1 = dense(x, 32, tanh);
            let h2 = dense(h1, 32, tanh);
            output y = dense(h2, 4, identity);
            loss = cross_entropy(y, t);
        }
    }
}

fn mlp_64_32_10() -> TokenStream {
    quote! {
        pub struct Digits {
            input x[64];
            target t[10];
            let h = dense(x, 32, tanh);
            output y = dense(h, 10, identity);
            loss = cross_entropy(y, t);
        }
    }
}

/// Number of tokens in a stream, counting inside groups.
fn count_tokens(tokens: TokenStream) -> usize {
    tokens
        .into_iter()
        .map(|tree| match tree {
            proc_macro2::TokenTree::Group(g) => 2 + count_tokens(g.stream()),
            _ => 1,
        })
        .sum()
}

/// Expands once outside criterion: checks that the body is accepted (no
/// `compile_error!` in the output) and reports the size of the emitted code and its
/// `COST` constant.
fn check(name: &str, tokens: &TokenStream) {
    let start = Instant::now();
    let out = symnn_codegen::expand(tokens.clone());
    let elapsed = start.elapsed();
    let text = out.to_string();
    assert!(
        !text.contains("compile_error"),
        "{name}: expansion failed: {}",
        &text[..text.len().min(500)]
    );
    let cost = text
        .find("Cost {")
        .and_then(|i| text[i..].find('}').map(|j| &text[i..=i + j]))
        .unwrap_or("COST not found");
    eprintln!(
        "{name}: first expansion {:.1} ms, {} output tokens ({} bytes as text), {cost}",
        elapsed.as_secs_f64() * 1e3,
        count_tokens(out),
        text.len()
    );
}

fn main() {
    let small = mlp_2_8_8_1();
    let big = mlp_16_32_32_4();
    check("expand/mlp_2_8_8_1", &small);
    check("expand/mlp_16_32_32_4", &big);
    let digits = mlp_64_32_10();
    check("expand/mlp_64_32_10", &digits);

    // Short runs on a small noisy machine; command-line flags still override these.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();

    c.bench_function("expand/mlp_2_8_8_1", |b| {
        b.iter_batched(
            || small.clone(),
            |t| symnn_codegen::expand(black_box(t)),
            BatchSize::SmallInput,
        )
    });

    // Each expansion of the big net takes long enough that 10 samples fill the time.
    let mut group = c.benchmark_group("expand");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("mlp_16_32_32_4", |b| {
        b.iter_batched(
            || big.clone(),
            |t| symnn_codegen::expand(black_box(t)),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("mlp_64_32_10", |b| {
        b.iter_batched(
            || digits.clone(),
            |t| symnn_codegen::expand(black_box(t)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
    c.final_summary();
}
