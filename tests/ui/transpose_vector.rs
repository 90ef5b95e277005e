use symnn::network;

network! {
    struct Net {
        input x[3];
        param w[3];
        output y = x.T * w;
        loss = sum(y);
    }
}

fn main() {}
