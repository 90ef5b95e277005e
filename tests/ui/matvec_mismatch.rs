use symnn::network;

network! {
    struct Net {
        input x[2];
        target t[2];
        param w[2][3];
        output y = w * x;
        loss = mse(y, t);
    }
}

fn main() {}
