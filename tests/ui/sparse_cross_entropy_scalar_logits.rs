use symnn::network;

network! {
    struct Net {
        input x[4];
        target k;
        param w[4];
        output z = dot(w, x);
        loss = sparse_cross_entropy(z, k);
    }
}

fn main() {}
