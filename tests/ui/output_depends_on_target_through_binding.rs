use symnn::network;

// The note points at the first binding that mixed the target in, not at the output.
network! {
    struct Net {
        input x;
        target t;
        param w;
        let a = w * x;
        let h = a + t;
        let g = tanh(h);
        output y = 2.0 * g;
        loss = sq(y - t);
    }
}

fn main() {}
