//! Instructions to tokens: statements, operands, float literals, and the one hygiene
//! rule for emitted names.
//!
//! Every local the generated code declares goes through [`local`]: a `__` prefix and
//! `Span::mixed_site()`. Mixed-site hygiene keeps locals apart from user *variables*,
//! but a pattern still resolves *constants* at the call site ("let bindings cannot
//! shadow constants"), so the prefix keeps a user's `const t3` from colliding. The
//! public methods' parameter names ([`argument`]) are API and unprefixed.

use proc_macro2::{Literal, Span, TokenStream};
use quote::quote;

use super::instr::{Instr, Method, Op, Operand, Returns, Temp};
use crate::graph::Func;
use crate::resolved::FloatType;

/// The local `__{name}`, hygienic (see the module doc).
pub fn local(name: &str) -> syn::Ident {
    syn::Ident::new(&format!("__{name}"), Span::mixed_site())
}

/// A public method's parameter (`input`, `target`, `lr`, `grad`, `seed`, `name`, and
/// `output` of `Model::forward_slice`): API, so not prefixed.
pub fn argument(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// An index or length as an unsuffixed literal.
pub fn index(i: usize) -> Literal {
    Literal::usize_unsuffixed(i)
}

/// The generated code's float type.
#[derive(Clone, Copy)]
pub struct Float(pub FloatType);

impl Float {
    /// `f32` or `f64`.
    pub fn ty(self) -> TokenStream {
        match self.0 {
            FloatType::F32 => quote!(f32),
            FloatType::F64 => quote!(f64),
        }
    }

    /// A literal of the float type; non-finite values through the type's constants.
    pub fn literal(self, v: f64) -> TokenStream {
        let ty = self.ty();
        // Round to the float type first: 1e40 is finite in f64 but infinite in f32.
        let v = match self.0 {
            FloatType::F32 => f64::from(v as f32),
            FloatType::F64 => v,
        };
        if v.is_nan() {
            return quote!(#ty::NAN);
        }
        // A folded constant that *is* e, π, ln 2, ... must be written by name: clippy's
        // deny-by-default `approx_constant` rejects the literal in the user's crate.
        if let Some(name) = named_constant(v.abs(), self.0) {
            let path = quote!(::core::#ty::consts::#name);
            return if v < 0.0 { quote!((-#path)) } else { path };
        }
        if v.is_infinite() {
            return if v > 0.0 {
                quote!(#ty::INFINITY)
            } else {
                quote!(#ty::NEG_INFINITY)
            };
        }
        let lit = match self.0 {
            FloatType::F32 => Literal::f32_suffixed(v.abs() as f32),
            FloatType::F64 => Literal::f64_suffixed(v.abs()),
        };
        if v.is_sign_negative() {
            quote!((-#lit))
        } else {
            quote!(#lit)
        }
    }
}

/// The name in `core::{f32,f64}::consts` of a value equal to one of them.
fn named_constant(v: f64, float: FloatType) -> Option<syn::Ident> {
    use std::f64::consts as c;
    const NAMED: [(&str, f64); 19] = [
        ("E", c::E),
        ("FRAC_1_PI", c::FRAC_1_PI),
        ("FRAC_1_SQRT_2", c::FRAC_1_SQRT_2),
        ("FRAC_2_PI", c::FRAC_2_PI),
        ("FRAC_2_SQRT_PI", c::FRAC_2_SQRT_PI),
        ("FRAC_PI_2", c::FRAC_PI_2),
        ("FRAC_PI_3", c::FRAC_PI_3),
        ("FRAC_PI_4", c::FRAC_PI_4),
        ("FRAC_PI_6", c::FRAC_PI_6),
        ("FRAC_PI_8", c::FRAC_PI_8),
        ("LN_10", c::LN_10),
        ("LN_2", c::LN_2),
        ("LOG10_E", c::LOG10_E),
        ("LOG2_E", c::LOG2_E),
        ("LOG2_10", c::LOG2_10),
        ("LOG10_2", c::LOG10_2),
        ("PI", c::PI),
        ("SQRT_2", c::SQRT_2),
        ("TAU", c::TAU),
    ];
    let round = |x: f64| match float {
        FloatType::F32 => f64::from(x as f32),
        FloatType::F64 => x,
    };
    NAMED
        .iter()
        .find(|(_, value)| round(*value) == v)
        .map(|(name, _)| syn::Ident::new(name, Span::call_site()))
}

/// Method bodies as tokens, for one float type.
#[derive(Clone, Copy)]
pub struct Render {
    /// The float type.
    pub float: Float,
    /// Straight-line one-sample code, where a chain of `exp`s is latency-bound: `exp`,
    /// `ln`, `sigmoid` and `softplus` call libm (glibc's table-driven `exp` has the
    /// shortest dependency chain; seed 003's step was 1.19x slower with the
    /// polynomials). Otherwise (loop bodies, maps) every transcendental is
    /// `symnn::math`'s branch-free polynomial, so the loop vectorises.
    pub latency: bool,
}

impl Render {
    /// The renderer for straight-line one-sample code.
    pub fn straight_line(float: Float) -> Render {
        Render {
            float,
            latency: true,
        }
    }

    /// The renderer for loop bodies (map kernels), which should vectorise.
    pub fn loop_body(self) -> Render {
        Render {
            latency: false,
            ..self
        }
    }
}

impl Render {
    /// The statements and the tail expression of a method.
    pub fn method(self, method: &Method) -> TokenStream {
        let statements = method.instrs.iter().map(|instr| self.instr(instr));
        let returns = self.returns(&method.returns);
        quote! {
            #(#statements)*
            #returns
        }
    }

    fn returns(self, returns: &Returns) -> TokenStream {
        let o = |a: &Operand| self.operand(*a);
        match returns {
            Returns::Value(a) => o(a),
            Returns::Array(values) => {
                let values = values.iter().map(o);
                quote!([#(#values),*])
            }
            Returns::ValueAndArray(a, values) => {
                let (a, values) = (o(a), values.iter().map(o));
                quote!((#a, [#(#values),*]))
            }
        }
    }

    /// One statement.
    pub fn instr(self, instr: &Instr) -> TokenStream {
        let fty = self.float.ty();
        let (params, gradient, lr, grad) = (
            local("params"),
            local("grad"),
            argument("lr"),
            argument("grad"),
        );
        match instr {
            Instr::BindParams => quote!(let #params = &self.params;),
            Instr::TempArray { len } => {
                let (array, n, zero) = (local("t"), *len, self.float.literal(0.0));
                quote!(let mut #array: [#fty; #n] = [#zero; #n];)
            }
            Instr::Let { dst, op } => {
                let (name, value) = (self.temp(*dst), self.op(*op));
                if dst.is_array_element() {
                    quote!(#name = #value;)
                } else {
                    quote!(let #name: #fty = #value;)
                }
            }
            Instr::SaveGradients { values } => {
                let (array, n) = (local("g"), values.len());
                let values = values.iter().map(|&a| self.operand(a));
                quote!(let #array: [#fty; #n] = [#(#values),*];)
            }
            Instr::Update { param, grad: g } => {
                let k = index(*param);
                match g.as_const() {
                    // (Gradients of ±1 without a multiplication: clippy's neg_multiply
                    // would fire on `lr * -1.0` in the user's crate.)
                    Some(1.0) => quote!(self.params[#k] -= #lr;),
                    Some(-1.0) => quote!(self.params[#k] += #lr;),
                    _ => {
                        let g = self.operand(*g);
                        quote!(self.params[#k] -= #lr * #g;)
                    }
                }
            }
            Instr::UpdateByStep {
                param,
                step,
                factor,
            } => {
                let (k, step) = (index(*param), self.temp(*step));
                match factor {
                    Some(factor) => {
                        let factor = self.operand(*factor);
                        quote!(self.params[#k] -= #step * #factor;)
                    }
                    None => quote!(self.params[#k] -= #step;),
                }
            }
            Instr::AddGrad { param, value } => {
                let (k, value) = (index(*param), self.operand(*value));
                quote!(#grad[#k] += #value;)
            }
            Instr::CallGradient => {
                let (loss, input, target) = (local("loss"), argument("input"), argument("target"));
                quote!(let (#loss, #gradient) = Self::gradient(self, #input, #target);)
            }
            Instr::UpdateAll => {
                let (p, g) = (local("p"), local("g"));
                quote! {
                    for (#p, #g) in self.params.iter_mut().zip(#gradient.iter()) {
                        *#p -= #lr * *#g;
                    }
                }
            }
            Instr::Loop { dst, op } => self.loop_instr(*dst, op),
            Instr::WriteGroup(write) => self.group_write(write),
            Instr::AddGradAll => {
                let (acc, g) = (local("acc"), local("g"));
                quote! {
                    for (#acc, #g) in #grad.iter_mut().zip(#gradient.iter()) {
                        *#acc += *#g;
                    }
                }
            }
        }
    }

    fn temp(self, temp: Temp) -> TokenStream {
        match temp {
            Temp::Node(n) => {
                let name = local(&format!("t{n}"));
                quote!(#name)
            }
            Temp::Slot(i) => {
                let (array, i) = (local("t"), index(i as usize));
                quote!(#array[#i])
            }
            Temp::Step(n) => {
                let name = local(&format!("lr{n}"));
                quote!(#name)
            }
            Temp::Loss => {
                let name = local("loss");
                quote!(#name)
            }
            Temp::Gradient(i) => {
                let (array, i) = (local("g"), index(i as usize));
                quote!(#array[#i])
            }
            Temp::Tensor(n) => {
                let name = super::loops::tensor_name(n);
                quote!(#name)
            }
        }
    }

    /// An operand as an expression.
    pub fn operand(self, operand: Operand) -> TokenStream {
        match operand {
            Operand::Temp(t) => self.temp(t),
            Operand::Input(k) => {
                let (input, k) = (argument("input"), index(k));
                quote!(#input[#k])
            }
            Operand::Target(k) => {
                let (target, k) = (argument("target"), index(k));
                quote!(#target[#k])
            }
            Operand::Param(k) => {
                let (params, k) = (local("params"), index(k));
                quote!(#params[#k])
            }
            Operand::ParamViaSelf(k) => {
                let k = index(k);
                quote!(self.params[#k])
            }
            Operand::Const(v) => self.float.literal(v),
            Operand::Lr => {
                let lr = argument("lr");
                quote!(#lr)
            }
            Operand::Lane(j) => {
                let lane = super::loops::lane_name(j as usize);
                quote!(#lane)
            }
        }
    }

    fn op(self, op: Op) -> TokenStream {
        let o = |a| self.operand(a);
        let zero = self.float.literal(0.0);
        match op {
            Op::Copy(a) => o(a),
            Op::Neg(a) => {
                let a = o(a);
                quote!(-#a)
            }
            Op::Add(a, b) => binary(o(a), quote!(+), o(b)),
            Op::Sub(a, b) => binary(o(a), quote!(-), o(b)),
            Op::Mul(a, b) => binary(o(a), quote!(*), o(b)),
            Op::Div(a, b) => binary(o(a), quote!(/), o(b)),
            Op::Call(f, a) => {
                let a = o(a);
                // tanh is always `symnn::math`'s branch-free polynomial (1-2 ulp,
                // docs/NUMERICS.md; glibc's tanh is slow); exp, ln, sigmoid and
                // softplus too except in straight-line code (see `Render::latency`).
                let math = quote!(::symnn::math);
                let float = |name: &str, a: TokenStream| self.float_fn(name, &[a]);
                match f {
                    Func::Exp if self.latency => float("exp", a),
                    Func::Ln if self.latency => float("ln", a),
                    Func::Sigmoid if self.latency => {
                        let one = self.float.literal(1.0);
                        let e = float("exp", quote!(-#a));
                        quote!(#one / (#one + #e))
                    }
                    Func::Softplus if self.latency => {
                        let tail = float("ln_1p", float("exp", quote!(-#a.abs())));
                        quote!(#a.max(#zero) + #tail)
                    }
                    Func::Exp => quote!(#math::exp(#a)),
                    Func::Ln => quote!(#math::ln(#a)),
                    Func::Sqrt => float("sqrt", a),
                    Func::Abs => quote!(#a.abs()),
                    Func::Sin => float("sin", a),
                    Func::Cos => float("cos", a),
                    Func::Tanh => quote!(#math::tanh(#a)),
                    Func::Sigmoid => quote!(#math::sigmoid(#a)),
                    Func::Relu => quote!(#a.max(#zero)),
                    Func::Softplus => quote!(#math::softplus(#a)),
                }
            }
            Op::Powi(a, n) => {
                let a = o(a);
                self.float_fn("powi", &[a, quote!(#n)])
            }
            Op::Pow(a, b) => self.float_fn("powf", &[o(a), o(b)]),
            Op::Max(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a.max(#b))
            }
            Op::Min(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a.min(#b))
            }
            Op::IfGt(a, b, t, e) => {
                let (a, b, t, e) = (o(a), o(b), o(t), o(e));
                quote!(if #a > #b { #t } else { #e })
            }
            Op::IfGe(a, b, t, e) => {
                let (a, b, t, e) = (o(a), o(b), o(t), o(e));
                quote!(if #a >= #b { #t } else { #e })
            }
            Op::Elem(t, k) => {
                let (array, k) = (super::loops::tensor_name(t), index(k as usize));
                quote!(#array[#k])
            }
            Op::IfEq(a, b, t, e) => {
                let (a, b, t, e) = (o(a), o(b), o(t), o(e));
                quote!(if #a == #b { #t } else { #e })
            }
        }
    }
}

impl Render {
    /// `<f64 as ::symnn::Float>::exp(a)`: a function that `core` lacks (`exp`, `ln`,
    /// `ln_1p`, `sqrt`, `sin`, `cos`, `powi`, `powf`; the inherent `x.exp()` exists
    /// only with std), through the runtime's `Float`, which is std's inherent method
    /// with std (inlined: the same code) and `libm`'s without. `abs`, `max` and `min`
    /// are in `core` and stay methods.
    fn float_fn(self, name: &str, args: &[TokenStream]) -> TokenStream {
        let (ty, name) = (self.float.ty(), syn::Ident::new(name, Span::call_site()));
        quote!(<#ty as ::symnn::Float>::#name(#(#args),*))
    }
}

fn binary(a: TokenStream, op: TokenStream, b: TokenStream) -> TokenStream {
    quote!(#a #op #b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(instr: &Instr) -> String {
        Render {
            latency: true,
            float: Float(FloatType::F64),
        }
        .instr(instr)
        .to_string()
    }

    #[test]
    fn locals_are_prefixed() {
        // (The span cannot be told apart outside a proc macro; tests/hygiene.rs checks
        // it in a real expansion.)
        assert_eq!(local("t3").to_string(), "__t3");
        assert_eq!(argument("input").to_string(), "input");
    }

    #[test]
    fn statements() {
        let update = |grad| Instr::Update { param: 2, grad };
        assert_eq!(
            render(&update(Operand::Const(1.0))),
            "self . params [2] -= lr ;"
        );
        assert_eq!(
            render(&update(Operand::Const(-1.0))),
            "self . params [2] += lr ;"
        );
        assert_eq!(
            render(&update(Operand::Input(0))),
            "self . params [2] -= lr * input [0] ;"
        );
        let by_step = Instr::UpdateByStep {
            param: 1,
            step: Temp::Step(0),
            factor: Some(Operand::Param(4)),
        };
        assert_eq!(
            render(&by_step),
            "self . params [1] -= __lr0 * __params [4] ;"
        );
        let op = Op::Add(Operand::Temp(Temp::Node(5)), Operand::Const(0.5));
        let named = Instr::Let {
            dst: Temp::Node(6),
            op,
        };
        assert_eq!(render(&named), "let __t6 : f64 = __t5 + 0.5f64 ;");
        let slot = Instr::Let {
            dst: Temp::Slot(6),
            op,
        };
        assert_eq!(render(&slot), "__t [6] = __t5 + 0.5f64 ;");
    }

    #[test]
    fn literals_round_to_the_float_type_and_name_constants() {
        let f32 = Float(FloatType::F32);
        assert_eq!(f32.literal(1e40).to_string(), "f32 :: INFINITY");
        assert_eq!(
            f32.literal(-std::f64::consts::PI).to_string(),
            "(- :: core :: f32 :: consts :: PI)"
        );
        assert_eq!(Float(FloatType::F64).literal(-2.0).to_string(), "(- 2f64)");
    }
}
