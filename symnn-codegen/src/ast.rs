//! Stage 1, parse: the DSL's syntax tree, with the spans every later error points at.
//!
//! Statements are parsed by hand (one `impl Parse` per construct); expressions are parsed
//! by syn as Rust expressions (so precedence and associativity are exactly Rust's) and
//! then converted into the small [`Expr`] language, rejecting every Rust form the DSL
//! does not have with an error at that form.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, TokenStreamExt};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{braced, bracketed, parenthesized, Attribute, Ident, Token, Visibility};

/// DSL keywords that are not Rust keywords.
#[allow(missing_docs)]
pub mod kw {
    syn::custom_keyword!(input);
    syn::custom_keyword!(target);
    syn::custom_keyword!(param);
    syn::custom_keyword!(output);
    syn::custom_keyword!(loss);
    syn::custom_keyword!(Float);
}

/// Parses the whole macro input.
///
/// syn reports running out of input at the top level (`struct N`, a truncated
/// statement list) at `Span::call_site()`, which points at no token of the input. The
/// input is therefore parsed as the content of a group spanned at its last token, so
/// such an error underlines the last token (found by `tests/no_panic.rs`).
pub fn parse(tokens: TokenStream) -> syn::Result<Network> {
    let Some(last) = tokens.clone().into_iter().last() else {
        return syn::parse2(tokens);
    };
    let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, tokens);
    group.set_span(last.span());
    let whole = |input: ParseStream| -> syn::Result<Network> {
        let content;
        braced!(content in input);
        let network: Network = content.parse()?;
        if !content.is_empty() {
            return Err(content.error("unexpected token"));
        }
        Ok(network)
    };
    syn::parse::Parser::parse2(whole, proc_macro2::TokenTree::Group(group).into())
}

/// A source range: the first and last token of a construct. On stable Rust a
/// `proc_macro2::Span` cannot be joined, so errors are built with
/// `syn::Error::new_spanned(loc, ..)`, which underlines from `start` to `end`.
#[derive(Clone, Copy, Debug)]
pub struct Loc {
    /// Span of the first token.
    pub start: Span,
    /// Span of the last token.
    pub end: Span,
}

impl Loc {
    /// A location covering exactly one span.
    pub fn at(span: Span) -> Loc {
        Loc {
            start: span,
            end: span,
        }
    }

    /// The location of everything `tokens` prints.
    pub fn of(tokens: &impl ToTokens) -> Loc {
        let stream = tokens.to_token_stream();
        let mut iter = stream.into_iter();
        let start = iter.next().map_or_else(Span::call_site, |tt| tt.span());
        let end = iter.last().map_or(start, |tt| tt.span());
        Loc { start, end }
    }

    /// From the start of `self` to the end of `other`.
    pub fn to(self, other: Loc) -> Loc {
        Loc {
            start: self.start,
            end: other.end,
        }
    }

    /// An error underlining this location.
    pub fn error(self, message: impl std::fmt::Display) -> syn::Error {
        syn::Error::new_spanned(self, message)
    }
}

impl ToTokens for Loc {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.append(Ident::new("start", self.start));
        tokens.append(Ident::new("end", self.end));
    }
}

/// `#[attrs] vis struct Name { statements }`
#[derive(Debug)]
pub struct Network {
    /// Doc comments and attributes, copied onto the generated struct.
    pub attrs: Vec<Attribute>,
    /// Visibility of the generated struct.
    pub vis: Visibility,
    /// The struct's name.
    pub name: Ident,
    /// The body, in source order.
    pub body: Vec<Stmt>,
}

/// One statement of the body.
#[derive(Debug)]
pub enum Stmt {
    /// `type Float = f32;` (the type is validated by the checker).
    FloatType {
        /// The type as written.
        ty: syn::Type,
        /// The whole statement.
        loc: Loc,
    },
    /// `input a, v[3], m[2][2];`
    Input(Vec<Decl>),
    /// `target t, u[10];`
    Target(Vec<Decl>),
    /// `param w, b[4] = 0.0, W[2][2] = [[1.0, 0.5], [0.0, 1.0]];`
    Param(Vec<ParamDecl>),
    /// `fn s(u) = 1.0 / (1.0 + exp(-u));`
    Fn(FnDef),
    /// `let h = EXPR;` / `let mut z = EXPR;`
    Let {
        /// Whether `mut` was written.
        mutable: bool,
        /// The bound name.
        name: Ident,
        /// The value.
        value: Expr,
    },
    /// `z = EXPR;`, `z[i] = EXPR;`, `z += EXPR;` (compound forms desugar to `z = z + EXPR`).
    Assign {
        /// The assigned variable and optional element indices.
        place: Place,
        /// `Some(op)` for `op=`.
        op: Option<BinOp>,
        /// The value.
        value: Expr,
        /// The whole statement.
        loc: Loc,
    },
    /// `for i in 0..3 { ... }` (unrolled).
    For(ForLoop),
    /// `output y = EXPR;`
    Output {
        /// The output's name.
        name: Ident,
        /// Its value.
        value: Expr,
        /// The `output` keyword.
        keyword: Span,
    },
    /// `loss = EXPR;`
    Loss {
        /// Its value.
        value: Expr,
        /// The `loss` keyword.
        keyword: Span,
    },
}

/// A declared name with optional array dimensions: `a`, `v[3]`, `m[2][2]`.
#[derive(Debug, Clone)]
pub struct Decl {
    /// The name.
    pub name: Ident,
    /// Dimensions as written, outermost first.
    pub dims: Vec<Dim>,
}

/// One array dimension of a declaration.
#[derive(Debug, Clone, Copy)]
pub struct Dim {
    /// The size.
    pub size: usize,
    /// The literal's span.
    pub span: Span,
}

/// A `param` declaration with its optional initial value.
#[derive(Debug, Clone)]
pub struct ParamDecl {
    /// Name and shape.
    pub decl: Decl,
    /// `= literal` / `= [[...]]`.
    pub init: Option<Init>,
}

/// A literal initial value.
#[derive(Debug, Clone)]
pub enum Init {
    /// One number (for a scalar, or broadcast to every element).
    Value(f64, Loc),
    /// A (nested) array literal.
    Array(Vec<Init>, Loc),
}

impl Init {
    /// The location of the literal.
    pub fn loc(&self) -> Loc {
        match self {
            Init::Value(_, loc) | Init::Array(_, loc) => *loc,
        }
    }
}

/// `fn name(a, b) = EXPR;` or, with shaped parameters, `fn u(z[2], s) = EXPR;`
#[derive(Debug)]
pub struct FnDef {
    /// The function's name.
    pub name: Ident,
    /// Parameter names.
    pub args: Vec<Ident>,
    /// Each parameter's dimensions as written (empty: a scalar parameter).
    pub dims: Vec<Vec<Dim>>,
    /// The body.
    pub body: Expr,
}

/// `for i in 0..3 { ... }` / `for _ in 0..=3 { ... }`
#[derive(Debug)]
pub struct ForLoop {
    /// The loop variable; `None` for `_`.
    pub var: Option<Ident>,
    /// Lower bound as written (the checker requires an integer literal).
    pub start: Expr,
    /// Upper bound as written.
    pub end: Expr,
    /// `..=` rather than `..`.
    pub inclusive: bool,
    /// The body.
    pub body: Vec<Stmt>,
    /// The `for` keyword.
    pub keyword: Span,
}

/// The left side of an assignment: `z`, `z[i]`, `m[i][j]`.
#[derive(Debug)]
pub struct Place {
    /// The variable.
    pub name: Ident,
    /// Index expressions, outermost first.
    pub indices: Vec<Expr>,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

/// An expression of the DSL.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A number literal. `int` is set for integer literals (`2`), which may also be
    /// used as indices, loop bounds, `powi` exponents and `dense` widths.
    Num {
        /// The value.
        value: f64,
        /// The value, if the literal was an integer.
        int: Option<i64>,
        /// The literal.
        loc: Loc,
    },
    /// A name: a declaration, binding, `fn` argument or loop variable.
    Name(Ident),
    /// `-e`
    Neg {
        /// The operand.
        operand: Box<Expr>,
        /// The whole expression.
        loc: Loc,
    },
    /// `a op b`
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
        /// The whole expression.
        loc: Loc,
        /// The operator token.
        op_span: Span,
    },
    /// `[a, b, c]`
    Array {
        /// Elements.
        elems: Vec<Expr>,
        /// The whole literal.
        loc: Loc,
    },
    /// `v[i]`
    Index {
        /// The indexed value.
        base: Box<Expr>,
        /// The index (an integer expression of literals and loop variables).
        index: Box<Expr>,
        /// The whole expression.
        loc: Loc,
    },
    /// `f(a, b)` or the method form `a.f(b)` (receiver becomes the first argument).
    Call {
        /// The function's name.
        func: Ident,
        /// Arguments.
        args: Vec<Expr>,
        /// Written in method form (`a.f(b)`): `args[0]` is the receiver.
        method: bool,
        /// The whole expression.
        loc: Loc,
    },
    /// `m.T` (the function form `transpose(m)` is a [`Expr::Call`]).
    Transpose {
        /// The operand.
        operand: Box<Expr>,
        /// The whole expression.
        loc: Loc,
    },
}

impl Expr {
    /// The whole expression's location.
    pub fn loc(&self) -> Loc {
        match self {
            Expr::Name(ident) => Loc::at(ident.span()),
            Expr::Num { loc, .. }
            | Expr::Neg { loc, .. }
            | Expr::Binary { loc, .. }
            | Expr::Array { loc, .. }
            | Expr::Index { loc, .. }
            | Expr::Call { loc, .. }
            | Expr::Transpose { loc, .. } => *loc,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

impl Parse for Network {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(Token![struct]) {
            return Err(
                input.error("expected `struct Name { ... }`: one network! defines one struct")
            );
        }
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        if input.peek(Token![<]) {
            return Err(input.error("a network struct cannot have generic parameters; choose the element type with `type Float = f32;`"));
        }
        let content;
        braced!(content in input);
        let body = parse_stmts(&content)?;
        if !input.is_empty() {
            return Err(input.error(
                "unexpected tokens after the network struct: one network! defines one struct",
            ));
        }
        Ok(Network {
            attrs,
            vis,
            name,
            body,
        })
    }
}

fn parse_stmts(input: ParseStream) -> syn::Result<Vec<Stmt>> {
    let mut body = Vec::new();
    while !input.is_empty() {
        body.push(input.parse()?);
    }
    Ok(body)
}

impl Parse for Stmt {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(Token![type]) {
            let start = input.parse::<Token![type]>()?.span;
            let float: kw::Float = input.parse().map_err(|e| {
                syn::Error::new(e.span(), "expected `Float`: the only type item is `type Float = f32;` or `type Float = f64;`")
            })?;
            let _ = float;
            input.parse::<Token![=]>()?;
            let ty: syn::Type = input.parse()?;
            let end = input.parse::<Token![;]>()?.span;
            Ok(Stmt::FloatType {
                ty,
                loc: Loc { start, end },
            })
        } else if lookahead.peek(kw::input) {
            input.parse::<kw::input>()?;
            Ok(Stmt::Input(parse_decl_list(input, Decl::parse)?))
        } else if lookahead.peek(kw::target) {
            input.parse::<kw::target>()?;
            Ok(Stmt::Target(parse_decl_list(input, Decl::parse)?))
        } else if lookahead.peek(kw::param) {
            input.parse::<kw::param>()?;
            Ok(Stmt::Param(parse_decl_list(input, ParamDecl::parse)?))
        } else if lookahead.peek(Token![fn]) {
            Ok(Stmt::Fn(input.parse()?))
        } else if lookahead.peek(Token![let]) {
            input.parse::<Token![let]>()?;
            let mutable = input.parse::<Option<Token![mut]>>()?.is_some();
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value = parse_expr(input)?;
            input.parse::<Token![;]>()?;
            Ok(Stmt::Let {
                mutable,
                name,
                value,
            })
        } else if lookahead.peek(Token![for]) {
            Ok(Stmt::For(input.parse()?))
        } else if lookahead.peek(kw::output) {
            let keyword = input.parse::<kw::output>()?.span;
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value = parse_expr(input)?;
            input.parse::<Token![;]>()?;
            Ok(Stmt::Output {
                name,
                value,
                keyword,
            })
        } else if lookahead.peek(kw::loss) {
            let keyword = input.parse::<kw::loss>()?.span;
            input.parse::<Token![=]>()?;
            let value = parse_expr(input)?;
            input.parse::<Token![;]>()?;
            Ok(Stmt::Loss { value, keyword })
        } else if lookahead.peek(Ident) {
            parse_assign(input)
        } else {
            Err(lookahead.error())
        }
    }
}

fn parse_assign(input: ParseStream) -> syn::Result<Stmt> {
    let name: Ident = input.parse()?;
    let mut indices = Vec::new();
    while input.peek(syn::token::Bracket) {
        let content;
        bracketed!(content in input);
        indices.push(parse_expr(&content)?);
    }
    let lookahead = input.lookahead1();
    let op = if lookahead.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        None
    } else if lookahead.peek(Token![+=]) {
        input.parse::<Token![+=]>()?;
        Some(BinOp::Add)
    } else if lookahead.peek(Token![-=]) {
        input.parse::<Token![-=]>()?;
        Some(BinOp::Sub)
    } else if lookahead.peek(Token![*=]) {
        input.parse::<Token![*=]>()?;
        Some(BinOp::Mul)
    } else if lookahead.peek(Token![/=]) {
        input.parse::<Token![/=]>()?;
        Some(BinOp::Div)
    } else {
        return Err(lookahead.error());
    };
    let value = parse_expr(input)?;
    let end = input.parse::<Token![;]>()?.span;
    let loc = Loc {
        start: name.span(),
        end,
    };
    Ok(Stmt::Assign {
        place: Place { name, indices },
        op,
        value,
        loc,
    })
}

fn parse_decl_list<T>(
    input: ParseStream,
    item: fn(ParseStream) -> syn::Result<T>,
) -> syn::Result<Vec<T>> {
    let mut list = Vec::new();
    loop {
        list.push(item(input)?);
        if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
            return Ok(list);
        }
        let lookahead = input.lookahead1();
        if lookahead.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            // Allow a trailing comma before the semicolon.
            if input.peek(Token![;]) {
                input.parse::<Token![;]>()?;
                return Ok(list);
            }
        } else {
            lookahead.peek(Token![;]);
            return Err(lookahead.error());
        }
    }
}

impl FnDef {
    /// Whether some parameter has a shape: then the `fn` is called as written, never
    /// elementwise.
    pub fn is_shaped(&self) -> bool {
        self.dims.iter().any(|d| !d.is_empty())
    }
}

impl Parse for Decl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        let mut dims = Vec::new();
        while input.peek(syn::token::Bracket) {
            let content;
            bracketed!(content in input);
            let lit: syn::LitInt = content.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected an integer literal array size, e.g. `v[3]`",
                )
            })?;
            if !content.is_empty() {
                return Err(content.error("expected `]`: an array size is one integer literal"));
            }
            let size = lit.base10_parse::<usize>()?;
            dims.push(Dim {
                size,
                span: lit.span(),
            });
        }
        Ok(Decl { name, dims })
    }
}

impl Parse for ParamDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let decl: Decl = input.parse()?;
        let init = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let expr: syn::Expr = input.parse()?;
            Some(init_from_syn(&expr)?)
        } else {
            None
        };
        Ok(ParamDecl { decl, init })
    }
}

fn init_from_syn(expr: &syn::Expr) -> syn::Result<Init> {
    let loc = Loc::of(expr);
    match expr {
        syn::Expr::Array(array) => {
            let elems = array.elems.iter().map(init_from_syn).collect::<syn::Result<_>>()?;
            Ok(Init::Array(elems, loc))
        }
        syn::Expr::Paren(paren) => init_from_syn(&paren.expr),
        syn::Expr::Group(group) => init_from_syn(&group.expr),
        _ => match literal_value(expr) {
            Some(value) => Ok(Init::Value(value, loc)),
            None => Err(loc.error(
                "a parameter's initial value must be a number literal or an array of them, e.g. `= 0.5` or `= [[1.0, 0.0], [0.0, 1.0]]`",
            )),
        },
    }
}

/// The value of a (possibly negated) number literal.
fn literal_value(expr: &syn::Expr) -> Option<f64> {
    match expr {
        syn::Expr::Lit(lit) => match &lit.lit {
            syn::Lit::Float(f) => f.base10_parse().ok(),
            syn::Lit::Int(i) => i.base10_parse().ok(),
            _ => None,
        },
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => literal_value(expr).map(|v| -v),
        syn::Expr::Paren(p) => literal_value(&p.expr),
        syn::Expr::Group(g) => literal_value(&g.expr),
        _ => None,
    }
}

impl Parse for FnDef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        input.parse::<Token![fn]>()?;
        let name: Ident = input.parse()?;
        let content;
        parenthesized!(content in input);
        let params: Punctuated<Decl, Token![,]> =
            content.parse_terminated(Decl::parse, Token![,])?;
        if input.peek(syn::token::Brace) {
            return Err(input.error("a DSL function is written `fn name(a, b) = EXPR;`"));
        }
        input.parse::<Token![=]>()?;
        let body = parse_expr(input)?;
        input.parse::<Token![;]>()?;
        let (args, dims) = params.into_iter().map(|d| (d.name, d.dims)).unzip();
        Ok(FnDef {
            name,
            args,
            dims,
            body,
        })
    }
}

impl Parse for ForLoop {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let keyword = input.parse::<Token![for]>()?.span;
        let var = if input.peek(Token![_]) {
            input.parse::<Token![_]>()?;
            None
        } else {
            Some(input.parse::<Ident>()?)
        };
        input.parse::<Token![in]>()?;
        let range = syn::Expr::parse_without_eager_brace(input)?;
        let syn::Expr::Range(range) = range else {
            return Err(Loc::of(&range)
                .error("expected a range with integer literal bounds, e.g. `0..3` or `0..=2`"));
        };
        let (Some(start), Some(end)) = (&range.start, &range.end) else {
            return Err(Loc::of(&range).error("a for loop needs both bounds, e.g. `0..3`"));
        };
        let start = convert_expr(start)?;
        let end = convert_expr(end)?;
        let inclusive = matches!(range.limits, syn::RangeLimits::Closed(_));
        let content;
        braced!(content in input);
        let body = parse_stmts(&content)?;
        // Tolerate `};` after a loop, as Rust does.
        if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
        }
        Ok(ForLoop {
            var,
            start,
            end,
            inclusive,
            body,
            keyword,
        })
    }
}

/// Parses one DSL expression (a Rust expression restricted to the DSL's forms).
fn parse_expr(input: ParseStream) -> syn::Result<Expr> {
    let expr: syn::Expr = input.parse()?;
    convert_expr(&expr)
}

fn convert_expr(expr: &syn::Expr) -> syn::Result<Expr> {
    let loc = Loc::of(expr);
    match expr {
        syn::Expr::Lit(lit) => match &lit.lit {
            syn::Lit::Float(f) => {
                check_suffix(f.suffix(), f.span())?;
                Ok(Expr::Num { value: f.base10_parse()?, int: None, loc })
            }
            syn::Lit::Int(i) => {
                check_suffix(i.suffix(), i.span())?;
                let value: f64 = i.base10_digits().parse().map_err(|_| loc.error("invalid number"))?;
                Ok(Expr::Num { value, int: i.base10_digits().parse().ok(), loc })
            }
            _ => Err(loc.error("expected a number; the DSL has only number literals")),
        },
        syn::Expr::Path(path) => {
            if path.qself.is_none() && path.path.leading_colon.is_none() && path.path.segments.len() == 1 {
                let seg = &path.path.segments[0];
                if seg.arguments.is_empty() {
                    return Ok(Expr::Name(seg.ident.clone()));
                }
            }
            Err(loc.error("expected a plain name; paths like `a::b` are not part of the DSL"))
        }
        syn::Expr::Paren(paren) => convert_expr(&paren.expr),
        syn::Expr::Group(group) => convert_expr(&group.expr),
        syn::Expr::Unary(unary) => match unary.op {
            syn::UnOp::Neg(_) => Ok(Expr::Neg { operand: Box::new(convert_expr(&unary.expr)?), loc }),
            _ => Err(Loc::of(&unary.op).error("unsupported operator: the DSL has `-x` as its only unary operator")),
        },
        syn::Expr::Binary(binary) => {
            let op = match binary.op {
                syn::BinOp::Add(_) => BinOp::Add,
                syn::BinOp::Sub(_) => BinOp::Sub,
                syn::BinOp::Mul(_) => BinOp::Mul,
                syn::BinOp::Div(_) => BinOp::Div,
                _ => {
                    return Err(Loc::of(&binary.op).error(
                        "unsupported operator: the DSL has `+`, `-`, `*` and `/` (use `max`, `min`, `powi`, ... for the rest)",
                    ))
                }
            };
            Ok(Expr::Binary {
                op,
                lhs: Box::new(convert_expr(&binary.left)?),
                rhs: Box::new(convert_expr(&binary.right)?),
                loc,
                op_span: Loc::of(&binary.op).start,
            })
        }
        syn::Expr::Array(array) => Ok(Expr::Array {
            elems: array.elems.iter().map(convert_expr).collect::<syn::Result<_>>()?,
            loc,
        }),
        syn::Expr::Index(index) => Ok(Expr::Index {
            base: Box::new(convert_expr(&index.expr)?),
            index: Box::new(convert_expr(&index.index)?),
            loc,
        }),
        syn::Expr::Call(call) => {
            let func = match &*call.func {
                syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                    p.path.get_ident().cloned().unwrap_or_else(|| Ident::new("_", loc.start))
                }
                other => return Err(Loc::of(other).error("expected a function name, e.g. `tanh(x)`")),
            };
            Ok(Expr::Call {
                func,
                args: call.args.iter().map(convert_expr).collect::<syn::Result<_>>()?,
                method: false,
                loc,
            })
        }
        syn::Expr::MethodCall(call) => {
            if let Some(turbofish) = &call.turbofish {
                return Err(Loc::of(turbofish).error("generic arguments are not part of the DSL"));
            }
            let mut args = vec![convert_expr(&call.receiver)?];
            for arg in &call.args {
                args.push(convert_expr(arg)?);
            }
            Ok(Expr::Call { func: call.method.clone(), args, method: true, loc })
        }
        syn::Expr::Field(field) => match &field.member {
            syn::Member::Named(ident) if ident == "T" => {
                Ok(Expr::Transpose { operand: Box::new(convert_expr(&field.base)?), loc })
            }
            member => Err(Loc::of(member).error(
                "unknown field: the only field is `.T` (transpose); dense parameters are not addressed by name in expressions",
            )),
        },
        _ => Err(loc.error(
            "unsupported expression: the DSL has numbers, names, `+ - * /`, unary `-`, `[..]` arrays, indexing, calls `f(x)` / `x.f()`, and `.T`",
        )),
    }
}

fn check_suffix(suffix: &str, span: Span) -> syn::Result<()> {
    match suffix {
        "" | "f32" | "f64" => Ok(()),
        _ => Err(syn::Error::new(
            span,
            format!("unsupported literal suffix `{suffix}`; numbers are the network's float type"),
        )),
    }
}
