//! Batched evaluation: `forward_batch` and `loss_batch`, the one-sample `forward` and
//! `loss` bodies (unfused) rendered on the same batch targets as the gradient: lanes
//! across samples in the scalar tier, GEMM blocks in the tensor tier, with the same ISA
//! dispatch and the same stack bound.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    block_form, dispatched, lanes, length_check, scalar_reads, tensor_block, BlockForm, OneSample,
    Signature, Sizes,
};
use crate::emit::build::Body;
use crate::emit::ir::{Instr, Operand};
use crate::emit::render::{self, Block, Lanes, NoBlockForm, Target};
use crate::emit::tokens::{argument, local, Float};

/// What a block computes per sample.
#[derive(Clone, Copy)]
enum Values<'a> {
    /// The outputs, written row by row into `outputs`.
    Outputs(&'a [Operand]),
    /// The loss, summed.
    Loss(Operand),
}

impl Values<'_> {
    fn operands(self) -> Vec<Operand> {
        match self {
            Values::Outputs(outputs) => outputs.to_vec(),
            Values::Loss(loss) => vec![loss],
        }
    }
}

/// `forward_batch` and `loss_batch` of the generated struct `name`, from the bodies of
/// `forward` (computing `outputs`) and `loss` (computing `loss`).
pub fn methods(
    name: &syn::Ident,
    float: Float,
    sizes: Sizes,
    (forward, outputs): (&Body<'_>, &[Operand]),
    (loss_body, loss): (&Body<'_>, Operand),
    o: usize,
) -> TokenStream {
    let fty = float.ty();
    let (i, t) = (sizes.i, sizes.t);
    let (inputs, targets, out) = (argument("inputs"), argument("targets"), argument("outputs"));
    let (s, x, y, total) = (local("s"), local("x"), local("y"), local("total"));
    let zero = float.literal(0.0);

    let values = Values::Outputs(outputs);
    let form = evaluation_form(float, sizes, forward, values, o);
    let signature = Signature {
        args: vec![
            (inputs.clone(), quote!(&[[#fty; #i]])),
            (out.clone(), quote!(&mut [[#fty; #o]])),
        ],
        returns: None,
    };
    let one_sample = quote! {
        for (#x, #y) in #inputs.iter().zip(#out.iter_mut()) {
            *#y = Self::forward(self, #x);
        }
    };
    let check = length_check("outputs", "symnn: a batch needs one output row per input");
    let (forward_body, forward_item) = dispatched(
        name,
        &local("forward_block"),
        &signature,
        &check,
        &one_sample,
        &form,
    );
    let forward_doc = doc(
        "Writes the network's output for each input into the same row of `outputs`: `forward` over the samples, computed a block at a time (SIMD across samples, GEMMs for wide layers); each row equals `forward`'s up to the last ulps of the vectorised `exp`/`ln`/`sigmoid`/`softplus`.\n\n# Panics\nIf `inputs` and `outputs` differ in length.",
        &form,
    );

    let form = evaluation_form(float, sizes, loss_body, Values::Loss(loss), o);
    let signature = Signature {
        args: vec![
            (inputs.clone(), quote!(&[[#fty; #i]])),
            (targets.clone(), quote!(&[[#fty; #t]])),
        ],
        returns: Some(fty.clone()),
    };
    let one_sample = quote! {
        let mut #total = #zero;
        for (#x, #s) in #inputs.iter().zip(#targets) {
            #total += Self::loss(self, #x, #s);
        }
        #total
    };
    let check = length_check("targets", "symnn: a batch needs as many targets as inputs");
    let (loss_body, loss_item) = dispatched(
        name,
        &local("loss_block"),
        &signature,
        &check,
        &one_sample,
        &form,
    );
    let loss_doc = doc(
        "The summed loss of a batch of samples: `loss` over the samples, computed a block at a time (SIMD across samples, GEMMs for wide layers), equal to that sum up to the order of summation and the last ulps of the vectorised functions. Divide by `inputs.len()` for the mean.\n\n# Panics\nIf `inputs` and `targets` differ in length.",
        &form,
    );
    quote! {
        #forward_item
        #loss_item

        #[doc = #forward_doc]
        pub fn forward_batch(&self, #inputs: &[[#fty; #i]], #out: &mut [[#fty; #o]]) {
            #forward_body
        }

        #[doc = #loss_doc]
        pub fn loss_batch(&self, #inputs: &[[#fty; #i]], #targets: &[[#fty; #t]]) -> #fty {
            #loss_body
        }
    }
}

/// `text`, and why the batch runs one sample at a time if it does.
fn doc(text: &str, form: &BlockForm) -> String {
    let one_sample = form
        .body
        .as_ref()
        .err()
        .map_or(String::new(), |why| why.doc());
    format!("{text}{one_sample}")
}

fn evaluation_form(
    float: Float,
    sizes: Sizes,
    body: &Body<'_>,
    values: Values<'_>,
    o: usize,
) -> BlockForm {
    // (A value read straight from a rolled loop's results.)
    if values
        .operands()
        .iter()
        .any(|o| matches!(o, Operand::Var(_)))
    {
        return BlockForm {
            body: Err(OneSample::RolledLoop),
            tensor: false,
            debug_loop: false,
        };
    }
    let form = block_form(float, sizes, body, false, |tensor| {
        if tensor {
            blocks_body(float, sizes, body, values, o)
        } else {
            lanes_body(float, sizes, body, values, o)
        }
    });
    debug_assert!(!matches!(form.body, Err(OneSample::NoBlockForm(_))));
    form
}

/// The scalar tier: `L` samples per block as lanes; the samples after the last whole
/// block through the one-sample method.
fn lanes_body(
    float: Float,
    sizes: Sizes,
    body: &Body<'_>,
    values: Values<'_>,
    o: usize,
) -> Result<TokenStream, NoBlockForm> {
    let l = lanes(float);
    let r = Lanes { float, lanes: l };
    let (fty, lanes_ty, zero) = (float.ty(), r.ty(), float.literal(0.0));
    let (ni, nt, p) = (sizes.i, sizes.t, sizes.p);
    let (inputs, targets, out) = (argument("inputs"), argument("targets"), argument("outputs"));
    let (params, x, y, block, blocks, s, total) = (
        local("params"),
        local("x"),
        local("y"),
        local("block"),
        local("blocks"),
        local("s"),
        local("total"),
    );
    let mut statements = Vec::with_capacity(body.instrs.len());
    for instr in &body.instrs {
        statements.push(render::instr(&r, instr)?);
    }
    let x_lanes =
        quote!(let #x: [#lanes_ty; #ni] = ::symnn::lanes::transpose(&#inputs[#block * #l..]););
    let (y_lanes, per_block, rest, total_decl, total_value) = match values {
        Values::Outputs(outputs) => {
            let mut row = Vec::with_capacity(o);
            for &v in outputs {
                let v = r.operand(v)?;
                row.push(quote!((#v).0[#s]));
            }
            (
                quote!(),
                quote! {
                    for #s in 0..#l {
                        #out[#block * #l + #s] = [#(#row),*];
                    }
                },
                quote!(#out[#s] = Self::forward(self, &#inputs[#s]);),
                quote!(),
                quote!(),
            )
        }
        Values::Loss(loss) => {
            let v = r.operand(loss)?;
            (
                quote!(let #y: [#lanes_ty; #nt] = ::symnn::lanes::transpose(&#targets[#block * #l..]);),
                quote!(#total = #total + #v;),
                quote!(#total += Self::loss(self, &#inputs[#s], &#targets[#s]);),
                quote!(let mut #total = #lanes_ty::splat(#zero);),
                quote! {
                    let mut #total = #total.sum();
                },
            )
        }
    };
    let returns = matches!(values, Values::Loss(_)).then(|| quote!(#total));
    Ok(quote! {
        let #params: &[#fty; #p] = &self.params;
        let _ = #params;
        let #blocks = #inputs.len() / #l;
        #total_decl
        for #block in 0..#blocks {
            #x_lanes
            #y_lanes
            #(#statements)*
            #per_block
        }
        #total_value
        for #s in #blocks * #l..#inputs.len() {
            #rest
        }
        #returns
    })
}

/// The tensor tier: blocks of up to 32 (f64) / 64 (f32) samples on the [`Block`]
/// target.
fn blocks_body(
    float: Float,
    sizes: Sizes,
    body: &Body<'_>,
    values: Values<'_>,
    o: usize,
) -> Result<TokenStream, NoBlockForm> {
    let per_sample: usize = body
        .instrs
        .iter()
        .map(|instr| match instr {
            Instr::Loop { op, .. } => op.values(),
            _ => 1,
        })
        .sum();
    let b = tensor_block(float, per_sample + sizes.i + sizes.t + o);
    let block = Block {
        lanes: Lanes { float, lanes: b },
        inputs: sizes.i,
        targets: sizes.t,
    };
    let mut statements = Vec::with_capacity(body.instrs.len());
    for instr in &body.instrs {
        statements.push(render::instr(&block, instr)?);
    }
    let (fty, lanes_ty, zero) = (float.ty(), block.lanes.ty(), float.literal(0.0));
    let (ni, nt, p) = (sizes.i, sizes.t, sizes.p);
    let (inputs, targets, out) = (argument("inputs"), argument("targets"), argument("outputs"));
    let (params, x, y, start, n, s, total) = (
        local("params"),
        local("x"),
        local("y"),
        local("start"),
        local("n"),
        local("s"),
        local("total"),
    );
    let (block_inputs, block_targets) = (local("inputs"), local("targets"));
    let (reads_x, reads_y) = scalar_reads(&body.instrs, &values.operands());
    let x_lanes = reads_x.then(
        || quote!(let #x: [#lanes_ty; #ni] = ::symnn::lanes::transpose_padded(#block_inputs);),
    );
    let (targets_decl, y_lanes, per_block, total_decl, returns) = match values {
        Values::Outputs(outputs) => {
            let mut row = Vec::with_capacity(o);
            for &v in outputs {
                let v = block.operand(v)?;
                row.push(quote!((#v).0[#s]));
            }
            (
                quote!(let _ = #block_inputs;),
                None,
                quote! {
                    for #s in 0..#n {
                        #out[#start + #s] = [#(#row),*];
                    }
                },
                quote!(),
                quote!(),
            )
        }
        Values::Loss(loss) => {
            let v = block.operand(loss)?;
            (
                quote! {
                    let #block_targets: &[[#fty; #nt]] = &#targets[#start..#start + #n];
                    let _ = (#block_inputs, #block_targets);
                },
                reads_y.then(|| {
                    quote!(let #y: [#lanes_ty; #nt] = ::symnn::lanes::transpose_padded(#block_targets);)
                }),
                quote!(#total += (#v).sum_first(#n);),
                quote!(let mut #total: #fty = #zero;),
                quote!(#total),
            )
        }
    };
    let arrays = block.arrays(&body.instrs);
    Ok(quote! {
        let #params: &[#fty; #p] = &self.params;
        let _ = #params;
        #total_decl
        #arrays
        let mut #start = 0;
        while #start < #inputs.len() {
            let #n = (#inputs.len() - #start).min(#b);
            let #block_inputs: &[[#fty; #ni]] = &#inputs[#start..#start + #n];
            #targets_decl
            #x_lanes
            #y_lanes
            #(#statements)*
            #per_block
            #start += #n;
        }
        #returns
    })
}
