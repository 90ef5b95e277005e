//! The matrix view (the default) and the per-element view
//! (`#[symnn(derivation = "elements")]`) of the derivation, and the rule that every name
//! a printed formula reads is defined in the same text.

use super::rustdoc::{wrap, CONTINUATION};
use super::DOC_LINE_CHARS;
use crate::emit::Derived;

fn derived(body: proc_macro2::TokenStream) -> Derived {
    crate::derive(body)
        .map(|(_, d)| d)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The 4-16-3 `dense` network of issue 19, in the scalar tier (the default for its
/// size), with `attrs` on the struct.
fn dense_4_16_3(attrs: proc_macro2::TokenStream) -> Derived {
    derived(quote::quote! {
        #attrs
        struct Net {
            input x[4]; target t[3];
            let h = dense(x, 16, tanh);
            output y = dense(h, 3, identity);
            loss = cross_entropy(y, t);
        }
    })
}

/// The `lhs = rhs` formulas of a `derivation()` text or of a rustdoc block: section
/// headers, fences and notes skipped, wrapped continuation lines joined.
fn formulas(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with(CONTINUATION) && !out.is_empty() {
            let last = out.last_mut().expect("not empty");
            last.1.push(' ');
            last.1.push_str(line.trim());
            continue;
        }
        let line = line.trim();
        if line.is_empty()
            || line.starts_with("```")
            || line.starts_with('…')
            || line.starts_with("network ")
            || line.starts_with("Shortened")
            || line.ends_with(':')
        {
            continue;
        }
        let (lhs, rhs) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("not a formula: {line:?} in\n{text}"));
        out.push((lhs.to_string(), rhs.to_string()));
    }
    out
}

/// A name as a formula reads it, without its element indices: `h.weight`, `z⁽²⁾`, `δ4`,
/// `t12`.
fn base(name: &str) -> &str {
    name.split('[').next().unwrap_or(name)
}

/// The names the right-hand sides read (not function names, numbers or `NaN`).
fn used_names(rhs: &str) -> Vec<String> {
    let part_of_name = |c: char| (c.is_alphanumeric() && c != 'ᵀ') || "_.⁽⁾⁰¹²³⁴⁵⁶⁷⁸⁹".contains(c);
    let chars: Vec<char> = rhs.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !part_of_name(chars[i]) || chars[i] == '.' {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && part_of_name(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let word = word.trim_end_matches('.');
        let call = chars.get(i) == Some(&'(');
        let number = word.starts_with(|c: char| c.is_ascii_digit());
        if !call && !number && !["if", "else", "NaN", "inf"].contains(&word) {
            names.push(word.to_string());
        }
    }
    names
}

/// The names `text` reads that it does not define, beyond the `declared` ones.
pub(super) fn undefined(text: &str, declared: &[String]) -> Vec<String> {
    let lines = formulas(text);
    let defined: Vec<&str> = lines.iter().map(|(lhs, _)| base(lhs)).collect();
    let mut missing: Vec<String> = lines
        .iter()
        .flat_map(|(_, rhs)| used_names(rhs))
        .filter(|n| !defined.contains(&base(n)) && !declared.iter().any(|d| d == base(n)))
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

/// The declared names of a network: inputs, targets, parameter groups.
pub(super) fn declared(d: &Derived) -> Vec<String> {
    let p = &d.program;
    let slots = p.inputs.iter().chain(&p.targets).chain(&p.params);
    slots.map(|s| s.name.clone()).collect()
}

/// `derivation()` and every rustdoc block define every name they read.
fn assert_every_name_defined(d: &Derived) {
    let declared = declared(d);
    for (what, text) in [
        ("derivation()", &d.derivation),
        ("forward's rustdoc", &d.docs.forward),
        ("loss's rustdoc", &d.docs.loss),
        ("gradient's rustdoc", &d.docs.gradient),
    ] {
        let missing = undefined(text, &declared);
        assert!(
            missing.is_empty(),
            "{what} reads {missing:?} undefined:\n{text}"
        );
    }
}

/// The checker finds what the issue found: `t34` read, never defined.
#[test]
fn the_name_check_can_fail() {
    let declared = vec![String::from("x"), String::from("h.weight")];
    let doc = "```text\ndL/dh.weight[0][0] = x[0]*t34\n… (154 more lines)\n```";
    assert_eq!(undefined(doc, &declared), ["t34"]);
    let doc = "```text\nt34 = tanh(x[1])\ndL/dh.weight[0][0] = x[0]*t34 + δ2ᵀ\n```";
    assert_eq!(undefined(doc, &declared), ["δ2"]);
    let text = "forward:\n  z⁽²⁾ = h.weight · x\n\ngradient:\n  dL/dh.weight = z⁽²⁾[1]*z⁽³⁾\n";
    assert_eq!(undefined(text, &declared), ["z⁽³⁾"]);
}

/// Issue 19: the 4-16-3 network reads as matrix formulas in the scalar tier, exactly
/// as in the tensor tier, and every rustdoc block is whole and self-contained.
#[test]
fn a_dense_network_reads_in_matrix_form_below_the_tensor_threshold() {
    let d = dense_4_16_3(quote::quote! {});
    assert!(
        d.program
            .graph
            .iter()
            .all(|(id, _)| !d.program.graph.is_tensor(id)),
        "the generated code stays in the scalar tier"
    );
    let text = &d.derivation;
    for line in [
        "\nforward:\n  h = tanh(h.weight · x + h.bias)\n  y = y.weight · h + y.bias\n",
        "  δ3 = y.weightᵀ · δ1\n",
        "  δ4 = δ3 ⊙ (1 - h*h)\n",
        "  δ5 = δ4 · xᵀ\n",
        "\ngradient:\n  dL/dh.weight = δ5\n  dL/dh.bias = δ4\n  dL/dy.weight = δ2\n  dL/dy.bias = δ1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("[0][0]"), "{text}");
    assert!(text.lines().count() < 40, "{text}");
    let tensor = dense_4_16_3(quote::quote! { #[symnn(tensor_threshold = 0)] });
    assert_eq!(text, &tensor.derivation, "the same text as the tensor tier");

    assert_every_name_defined(&d);
    for doc in [&d.docs.forward, &d.docs.loss, &d.docs.gradient] {
        assert!(!doc.contains('…') && !doc.contains("Shortened"), "{doc}");
    }
    assert!(
        d.docs
            .gradient
            .contains("δ5 = δ4 · xᵀ\ndL/dh.weight = δ5\n"),
        "{}",
        d.docs.gradient
    );
    assert!(
        d.docs.forward
            == "```text\nh = tanh(h.weight · x + h.bias)\ny = y.weight · h + y.bias\n```",
        "{}",
        d.docs.forward
    );
}

/// The per-element lines stay available: `derivation = "elements"` prints what the
/// generated code scalarises, one line per element, as before the matrix view; the
/// generated code is the same in both views.
#[test]
fn the_elements_option_gives_the_per_element_lines() {
    let matrix = dense_4_16_3(quote::quote! {});
    let elements = dense_4_16_3(quote::quote! { #[symnn(derivation = "elements")] });
    let text = &elements.derivation;
    for line in [
        "  h[0] = tanh(h.bias[0] + x[0]*h.weight[0][0] + x[1]*h.weight[0][1] + x[2]*h.weight[0][2] + x[3]*h.weight[0][3])\n",
        "  h[15] = tanh(",
        "  y[2] = y.bias[2] + h[0]*y.weight[2][0] + ",
        "  dL/dh.weight[0][0] = x[0]*t",
        "  dL/dy.bias[2] = ",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert_eq!(
        formulas(text)
            .iter()
            .filter(|(l, _)| l.starts_with("dL/d"))
            .count(),
        131
    );
    // Even shortened, the rustdoc shows only lines whose names it defines.
    assert_every_name_defined(&elements);
    assert!(elements.docs.gradient.contains("Shortened"));
    assert!(elements
        .docs
        .gradient
        .contains("dL/dh.weight[0][0] = x[0]*t"));
    // The forward lines are whole (wrapped, not cut).
    assert!(
        !elements.docs.forward.contains('…'),
        "{}",
        elements.docs.forward
    );
    assert!(elements
        .docs
        .forward
        .contains("h[0] = tanh(h.bias[0] + x[0]*h.weight[0][0]"));

    let code = |mut d: Derived| {
        d.derivation.clear();
        d.derivation_latex.clear();
        d.graph_dot.clear();
        d.docs = Default::default();
        crate::emit::emit(&d).to_string()
    };
    assert_eq!(
        code(matrix),
        code(elements),
        "the view never changes the code"
    );
}

/// The rule: networks without arrays, and products of matrices of at most 16 elements
/// (notebook-sized maps), print per element whatever the option; a larger matrix
/// prints as `A · z`, a reassignment as a new version of the whole vector.
#[test]
fn small_products_and_scalar_networks_keep_the_per_element_form() {
    for attrs in [
        quote::quote! {},
        quote::quote! { #[symnn(derivation = "elements")] },
    ] {
        let seed = derived(quote::quote! {
            #attrs
            struct Seed003 {
                input x1, x2; target y;
                param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
                let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
                let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
                output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
                loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
            }
        });
        assert!(!seed.program.matrix_view_differs);
        assert!(seed
            .derivation
            .contains("  f3 = sigmoid(2*w0 + x1*w13 + x2*w23)\n"));
        let small = derived(quote::quote! {
            #attrs
            struct N { input x[3]; param A[3][3]; let mut z = x;
                z = A * z; z = A * z; z = A * z; output y = z[1]; loss = sq(y); }
        });
        assert!(!small.program.matrix_view_differs);
        assert!(
            small
                .derivation
                .contains("  z⁽²⁾[0] = x[0]*A[0][0] + x[1]*A[0][1] + x[2]*A[0][2]\n"),
            "{}",
            small.derivation
        );
    }
    let large = derived(quote::quote! {
        struct N { input x[5]; param A[5][5]; let mut z = x;
            z = A * z; z = tanh(A * z); output y = z[1] + z[0]; loss = sq(y); }
    });
    assert!(large.program.matrix_view_differs);
    let text = &large.derivation;
    for line in [
        "  z⁽²⁾ = A · x\n",
        "  z⁽³⁾ = tanh(A · z⁽²⁾)\n",
        "  dL/dA = δ",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert_every_name_defined(&large);
}

/// A `dense` layer is a matrix formula at any size; bce on a sigmoid layer keeps its
/// textbook gradient `σ(z) − t`.
#[test]
fn even_a_tiny_layer_is_a_matrix_formula() {
    let d = derived(quote::quote! {
        struct Xor { input x[2]; target t[1]; let h = dense(x, 4, tanh);
            output p = dense(h, 1, sigmoid); loss = bce(p, t); }
    });
    let text = &d.derivation;
    for line in [
        "  h = tanh(h.weight · x + h.bias)\n",
        "  p = sigmoid(p.weight · h + p.bias)\n",
        "  δ1 = sigmoid(t0 + p.bias) - t\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains(" if "), "no selects: {text}");
    assert_every_name_defined(&d);
}

/// LaTeX and DOT of the matrix view: one row and one node per matrix formula.
#[test]
fn latex_and_dot_follow_the_matrix_view() {
    let d = dense_4_16_3(quote::quote! {});
    let latex = &d.derivation_latex;
    for part in [
        "\\tanh\\left(W^{(h)} x + b^{(h)}\\right)",
        "{W^{(y)}}^{\\top} \\delta_{1}",
        "\\delta_{4} x^{\\top}",
        "\\frac{\\partial L}{\\partial W^{(h)}} &= \\delta_{5}",
    ] {
        assert!(latex.contains(part), "missing {part:?} in\n{latex}");
    }
    let rows = latex.lines().filter(|l| l.contains(" &= ")).count();
    assert_eq!(rows, formulas(&d.derivation).len(), "{latex}");
    assert!(!latex.contains("_{0,0}"), "{latex}");

    let dot = &d.graph_dot;
    let nodes = dot
        .lines()
        .filter(|l| l.contains(" [label=") && !l.trim().starts_with("legend_"))
        .count();
    assert!(nodes < 40, "{nodes} nodes:\n{dot}");
    for label in [
        "\"h =\\ntanh(h.weight · x +",
        "\"dL/dh.weight =\\nδ5\"",
        "\"δ5 =\\nδ4 · xᵀ\"",
    ] {
        assert!(dot.contains(label), "missing {label:?} in\n{dot}");
    }
    assert!(!dot.contains("omitted") && !dot.contains("more)"), "{dot}");
}

/// Long rustdoc lines are wrapped before an operator (or after a comma), never cut.
#[test]
fn long_lines_are_wrapped_whole() {
    let terms: Vec<String> = (0..40).map(|k| format!("x[{k}]*w[{k}]")).collect();
    let line = format!("y = {}", terms.join(" + "));
    let parts = wrap(&line, DOC_LINE_CHARS);
    assert!(parts.len() > 2, "{parts:?}");
    assert!(parts.iter().all(|p| p.chars().count() <= DOC_LINE_CHARS));
    assert!(
        parts[1..].iter().all(|p| p.starts_with("    + ")),
        "{parts:?}"
    );
    let joined: Vec<&str> = parts.iter().map(|p| p.trim()).collect();
    assert_eq!(joined.join(" "), line);
    let word = "a".repeat(200);
    assert_eq!(wrap(&word, DOC_LINE_CHARS), [word], "nowhere to break");
}

#[test]
fn an_unrolled_integrator_prints_in_linear_size() {
    // Six RK4 steps unrolled: each stage reads the state and the stage before, and the
    // matrix view printed every tensor operand inline, 4^steps nodes (3 steps took 29 s
    // to expand, 4 did not finish). Long expressions now get a `tN` name.
    let d = derived(quote::quote! {
        #[symnn(loop_threshold = 18446744073709551615)]
        struct Ode {
            input s0[2];
            target traj[6][2];
            param W1[16][2], b1[16], W2[2][16], b2[2];
            fn f(u[2]) = W2 * tanh(W1 * u + b1) + b2;
            let mut s = s0;
            let mut L = 0.0;
            for k in 0..6 {
                let k1 = f(s);
                let k2 = f(s + 0.05 * k1);
                let k3 = f(s + 0.05 * k2);
                let k4 = f(s + 0.1 * k3);
                s = s + 0.1 / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
                L = L + sum(sq(s - traj[k]));
            }
            output y = s;
            loss = L;
        }
    });
    assert!(d.program.rolled.is_empty());
    let longest = d.derivation.lines().map(str::len).max().unwrap_or(0);
    assert!(
        d.derivation.len() < 400_000 && longest < 40_000,
        "{} bytes, longest line {longest}",
        d.derivation.len()
    );
}
