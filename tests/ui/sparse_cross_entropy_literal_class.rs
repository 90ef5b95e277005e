use symnn::network;

network! {
    struct Net {
        input x[4];
        param w[3][4];
        output z = w * x;
        loss = sparse_cross_entropy(z, 3) + sparse_cross_entropy(z, 1.5);
    }
}

fn main() {}
