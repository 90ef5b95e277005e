use symnn::network;

network! {
    struct Net {
        input x[4];
        target t[3];
        param w[3][4];
        output z = w * x;
        loss = sparse_cross_entropy(z, t);
    }
}

fn main() {}
