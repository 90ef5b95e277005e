//! Snapshots of the generated code: the `prettyplease`-formatted expansion of seed 003
//! and of a small tensor-tier network, against the files in `tests/snapshots/`.
//!
//! A change to the emitted code (or to the derivation, LaTeX, DOT and rustdoc strings
//! it embeds) shows up here as a diff to review. When the change is intended, accept
//! it with
//!
//! ```text
//! SYMNN_BLESS=1 cargo test -p symnn-codegen --test snapshot
//! ```
//!
//! and commit the updated snapshot. Each expansion is also run twice and compared, so
//! any nondeterminism (hash-map order, ...) fails here rather than as a flaky diff.
use std::path::PathBuf;

use proc_macro2::TokenStream;
use quote::quote;

/// The expansion of `body`, formatted.
fn expand(body: TokenStream) -> String {
    let tokens = symnn_codegen::expand(body);
    let file: syn::File = syn::parse2(tokens).expect("the expansion parses as a Rust file");
    prettyplease::unparse(&file)
}

/// The differing region of two texts, line by line: the common prefix and suffix
/// dropped, at most `limit` lines of each side shown.
fn diff(expected: &str, actual: &str, limit: usize) -> String {
    let (old, new): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = format!(
        "first difference at line {} (snapshot: {} lines, now: {} lines)\n",
        prefix + 1,
        old.len(),
        new.len()
    );
    let context = prefix.saturating_sub(3);
    for line in &old[context..prefix] {
        out.push_str(&format!("  {line}\n"));
    }
    let removed = &old[prefix..old.len() - suffix];
    let added = &new[prefix..new.len() - suffix];
    for line in removed.iter().take(limit) {
        out.push_str(&format!("- {line}\n"));
    }
    if removed.len() > limit {
        out.push_str(&format!("- ... ({} more)\n", removed.len() - limit));
    }
    for line in added.iter().take(limit) {
        out.push_str(&format!("+ {line}\n"));
    }
    if added.len() > limit {
        out.push_str(&format!("+ ... ({} more)\n", added.len() - limit));
    }
    out
}

fn check(name: &str, body: TokenStream) {
    let actual = expand(body.clone());
    assert!(
        actual == expand(body),
        "{name}: two expansions of the same network differ (nondeterministic codegen)"
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.rs.snap"));
    if std::env::var_os("SYMNN_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("snapshot directory");
        std::fs::write(&path, &actual).expect("snapshot written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no snapshot {} ({e}); create it with SYMNN_BLESS=1 cargo test -p symnn-codegen --test snapshot",
            path.display()
        )
    });
    // (Line endings normalised, in case a checkout converted them.)
    let expected = expected.replace("\r\n", "\n");
    assert!(
        expected == actual,
        "the generated code of `{name}` changed ({}):\n{}\nIf the change is intended: SYMNN_BLESS=1 cargo test -p symnn-codegen --test snapshot",
        path.display(),
        diff(&expected, &actual, 40)
    );
}

#[test]
fn seed_003() {
    check(
        "seed003",
        quote! {
            /// 2-2-1 classifier with one shared bias.
            pub struct Seed003 {
                input x1, x2;
                target y;
                param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
                let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
                let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
                output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
                loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
            }
        },
    );
}

#[test]
fn small_tensor_net() {
    check(
        "tensor_3_4_2",
        quote! {
            /// A 3-4-2 regression net, every array operation on the tensor tier.
            #[symnn(tensor_threshold = 0)]
            pub struct Tensor342 {
                input x[3];
                target t[2];
                let h = dense(x, 4, tanh);
                output y = dense(h, 2, identity);
                loss = mse(y, t);
            }
        },
    );
}

#[test]
fn the_diff_shows_the_changed_lines() {
    let d = diff("a\nb\nc\nd\n", "a\nb\nX\nd\n", 40);
    assert!(d.contains("first difference at line 3"), "{d}");
    assert!(d.contains("- c\n+ X\n"), "{d}");
    assert!(!d.contains("- d"), "the common suffix is not shown: {d}");
}
