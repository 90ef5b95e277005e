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
    assert!(derived.derivation.contains("dL/dp[999] = "));
    let code = symnn_codegen::expand(tokens).to_string();
    assert!(!code.contains("compile_error"));
}
