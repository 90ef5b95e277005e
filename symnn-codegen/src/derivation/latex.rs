//! `derivation_latex()`: the derivation's lines as one aligned LaTeX block, and the
//! LaTeX spelling of names and numbers used by the [`super::Printer`].
//!
//! Names: trailing digits and `_` become subscripts (`w13` → `w_{13}`, `z_2` →
//! `z_{2}`), Greek letter names become letters (`alpha` → `\alpha`), other long names
//! are `\mathit{...}`; a `dense` layer's groups are `W^{(h_{1})}` and `b^{(h_{1})}`, and
//! indices are subscripts (`h1.weight[3][0]` → `W^{(h_{1})}_{3,0}`). Common
//! subexpressions are `t_{k}` (`\tau_{k}` when a user name is also spelt `t...`), the
//! backward tensors `\delta_{k}`, gradients `\frac{\partial L}{\partial w_{13}}`.

use super::{Rendered, Section};
use crate::shape::Shape;

/// The lines as `\begin{aligned} lhs &= rhs \\ ... \end{aligned}`, with a little space
/// between sections.
pub fn render(lines: &[Rendered]) -> String {
    let mut out = String::from("\\begin{aligned}\n");
    let mut previous: Option<Section> = None;
    for r in lines {
        if let Some(section) = previous {
            out.push_str(if section == r.section {
                " \\\\\n"
            } else {
                " \\\\[6pt]\n"
            });
        }
        previous = Some(r.section);
        out.push_str(&format!(
            "{} &= {}{}",
            r.lhs,
            r.rhs,
            r.note.as_deref().unwrap_or("")
        ));
    }
    out.push_str("\n\\end{aligned}\n");
    out
}

/// Lowercase Greek letter names that LaTeX spells as a command (`alpha` → `\alpha`).
const GREEK: [&str; 24] = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
    "varepsilon",
];

/// Uppercase Greek letters with their own LaTeX command.
const GREEK_UPPER: [&str; 11] = [
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
];

/// A user's name (`w13`, `h1.weight[3][0]`, `z[2]`, `f_2`) in LaTeX.
pub fn name(text: &str) -> String {
    let (head, rest) = text.split_at(text.find('[').unwrap_or(text.len()));
    let indices: Vec<&str> = rest.split(['[', ']']).filter(|s| !s.is_empty()).collect();
    if indices
        .iter()
        .any(|i| !i.chars().all(|c| c.is_ascii_digit()))
    {
        return format!("\\text{{{}}}", escape_text(text));
    }
    let sub = indices.join(",");
    let Some((layer, field)) = head.split_once('.') else {
        let base = ident(head);
        return if indices.is_empty() {
            base
        } else {
            subscript(&base, &sub)
        };
    };
    // A layer's group: the layer as a superscript, the indices as a subscript.
    let field = match field {
        "weight" => String::from("W"),
        "bias" => String::from("b"),
        field => ident(field),
    };
    let base = format!("{field}^{{({})}}", ident(layer));
    if indices.is_empty() {
        base
    } else {
        format!("{base}_{{{sub}}}")
    }
}

/// `base` with the subscript `sub`: `x_{3}`, or `\left(t_{2}\right)_{3}` when `base`
/// already has one.
fn subscript(base: &str, sub: &str) -> String {
    if base.contains('_') || !is_simple(base) {
        format!("\\left({base}\\right)_{{{sub}}}")
    } else {
        format!("{base}_{{{sub}}}")
    }
}

/// Element `k` (row-major) of the value printed as `base` of this shape.
pub fn element(base: &str, shape: Shape, k: usize) -> String {
    match shape {
        Shape::Scalar => base.to_string(),
        Shape::Vector(_) => subscript(base, &k.to_string()),
        Shape::Matrix(_, c) => subscript(base, &format!("{},{}", k / c.max(1), k % c.max(1))),
    }
}

/// One identifier: `w13` → `w_{13}`, `h_out` → `h_{\mathit{out}}`, `alpha` →
/// `\alpha`, `hidden` → `\mathit{hidden}`.
fn ident(text: &str) -> String {
    // A binding's version (`z⁽²⁾`, see `lower`): `z^{(2)}`.
    if let Some((base, version)) = text.strip_suffix('⁾').and_then(|t| t.split_once('⁽')) {
        const DIGITS: &str = "⁰¹²³⁴⁵⁶⁷⁸⁹";
        let number: String = version
            .chars()
            .filter_map(|c| DIGITS.chars().position(|d| d == c))
            .map(|d| char::from(b'0' + d as u8))
            .collect();
        return format!("{}^{{({number})}}", ident(base));
    }
    if let Some((base, sub)) = text.split_once('_') {
        if !base.is_empty() && !sub.is_empty() {
            return format!("{}_{{{}}}", ident(base), ident(sub));
        }
    }
    let digits = text.len() - text.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (base, number) = text.split_at(text.len() - digits);
    if base.is_empty() {
        return number.to_string();
    }
    let base = if base.len() == 1 && base.chars().all(|c| c.is_ascii_alphabetic()) {
        base.to_string()
    } else if GREEK.contains(&base) || GREEK_UPPER.contains(&base) {
        format!("\\{base}")
    } else if base.chars().all(|c| c.is_ascii_alphanumeric()) {
        format!("\\mathit{{{base}}}")
    } else {
        format!("\\text{{{}}}", escape_text(base))
    };
    if number.is_empty() {
        base
    } else {
        format!("{base}_{{{number}}}")
    }
}

/// Text for `\text{...}`: LaTeX's special characters escaped.
fn escape_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' | '}' | '_' | '#' | '$' | '%' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '^' | '~' => out.push_str("\\string"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a user name is spelt like a common subexpression (`t`, `t_{3}`), so the
/// temporaries must be called something else.
pub fn collides_with_temps(user: &str) -> bool {
    let spelt = name(user);
    spelt == "t" || spelt.starts_with("t_") || spelt.starts_with("\\left(t_")
}

/// A number: shortest round-trip decimal, `m \times 10^{e}` for very small or large
/// magnitudes.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        return String::from("\\mathrm{NaN}");
    }
    if v.is_infinite() {
        return String::from(if v > 0.0 { "\\infty" } else { "-\\infty" });
    }
    let magnitude = v.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let text = format!("{v:e}");
        if let Some((mantissa, exponent)) = text.split_once('e') {
            return if mantissa == "1" || mantissa == "-1" {
                let sign = if v < 0.0 { "-" } else { "" };
                format!("{sign}10^{{{exponent}}}")
            } else {
                format!("{mantissa} \\times 10^{{{exponent}}}")
            };
        }
    }
    format!("{v}")
}

/// Whether a printed LaTeX expression can take a superscript or subscript as it is:
/// no superscript of its own, not a fraction, root, bracket or environment.
pub fn is_simple(text: &str) -> bool {
    !text.contains('^')
        && !text.contains(' ')
        && !text.starts_with("\\frac")
        && !text.starts_with("\\sqrt")
        && !text.starts_with("\\left")
        && !text.starts_with("\\begin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_subscripts_and_layer_superscripts() {
        assert_eq!(name("w13"), "w_{13}");
        assert_eq!(name("x1"), "x_{1}");
        assert_eq!(name("y"), "y");
        assert_eq!(name("W"), "W");
        assert_eq!(name("z[2]"), "z_{2}");
        assert_eq!(name("h1.weight"), "W^{(h_{1})}");
        assert_eq!(name("h1.weight[3][0]"), "W^{(h_{1})}_{3,0}");
        assert_eq!(name("out.bias[1]"), "b^{(\\mathit{out})}_{1}");
        assert_eq!(name("alpha"), "\\alpha");
        assert_eq!(name("h_2"), "h_{2}");
        assert_eq!(name("h_2[1]"), "\\left(h_{2}\\right)_{1}");
        assert_eq!(name("hidden"), "\\mathit{hidden}");
        assert!(
            collides_with_temps("t[0]") && collides_with_temps("t") && collides_with_temps("t2")
        );
        assert!(!collides_with_temps("target") && !collides_with_temps("y"));
    }

    #[test]
    fn numbers_are_plain_or_scientific() {
        assert_eq!(number(0.35), "0.35");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(-1e-300), "-10^{-300}");
        assert_eq!(number(2.5e20), "2.5 \\times 10^{20}");
        assert_eq!(number(f64::NAN), "\\mathrm{NaN}");
    }
}
