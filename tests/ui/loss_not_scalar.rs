use symnn::network;

network! {
    struct Net {
        input x[3];
        target t[3];
        param w[3];
        output y = w * x;
        loss = (y - t) * (y - t);
    }
}

fn main() {}
