use symnn::network;

network! {
    struct Net {
        input x[4];
        target k;
        param w[3][4];
        output z = w * x;
        loss = z.sparse_cross_entropy(k, 1.0);
    }
}

fn main() {}
