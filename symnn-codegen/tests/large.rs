//! Large networks must expand without deep recursion (test threads have 2 MiB stacks).
use quote::quote;

#[test]
fn thousand_term_sums_and_wide_layers_expand() {
    let tokens = quote! {
        struct Wide {
            input v[1000]; target t;
            param p[1000];
            let h = dense(v, 4, tanh);
            output y = sum(v * p) + sum(h);
            loss = sq(y - t);
        }
    };
    let (_, derived) = symnn_codegen::derive(tokens.clone()).expect("valid network");
    assert_eq!(derived.program.num_params(), 1000 + 4 * 1000 + 4);
    // The wide parts are tensor nodes: one matrix formula per group, no 5000 lines.
    assert!(
        derived.derivation.contains("dL/dp = "),
        "{}",
        derived.derivation
    );
    assert!(derived.derivation.contains("dL/dh.weight = δ"));
    assert!(derived.derivation.lines().count() < 40);
    let code = symnn_codegen::expand(tokens).to_string();
    assert!(!code.contains("compile_error"));
}

/// Reverse mode on the DAG never swells: a 50-layer chain's derivative adds a constant
/// number of nodes per layer, where differentiating expanded trees grows with depth.
#[test]
fn deep_chains_do_not_swell() {
    let tokens = quote! {
        struct Deep {
            input x; target t;
            param w[50], b[50];
            let mut z = x;
            for i in 0..50 {
                z = tanh(w[i] * z + b[i]);
            }
            output y = z;
            loss = sq(y - t);
        }
    };
    let (_, derived) = symnn_codegen::derive(tokens).expect("valid network");
    let nodes = derived.program.graph.len();
    // (The derivative methods' nodes — two Jacobians, an HVP — come on top of the
    // forward and gradient's ~20 a layer.)
    assert!(nodes < 50 * 60, "{nodes} nodes for 50 layers");
}

/// The 2-4-4-1 MLP with tanh written out with exp (the case that takes a tree-based
/// differentiator a minute) stays small. (Its expansion time is in `benches/expand.rs`
/// territory; here only the deterministic size is checked.)
#[test]
fn tanh_written_with_exp_stays_small() {
    let tokens = quote! {
        struct ExpTanh {
            input x[2]; target t;
            fn th(u) = (exp(u) - exp(-u)) / (exp(u) + exp(-u));
            let h1 = dense(x, 4, th);
            let h2 = dense(h1, 4, th);
            output y = dense(h2, 1, identity);
            loss = mse(y, [t]);
        }
    };
    let (_, derived) = symnn_codegen::derive(tokens).expect("valid network");
    let nodes = derived.program.graph.len();
    assert!(nodes < 1500, "{nodes} nodes");
}
