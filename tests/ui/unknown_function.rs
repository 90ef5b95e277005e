use symnn::network;

network! {
    struct Net {
        input x[2];
        target t[2];
        fn swish(u) = u * sigmoid(u);
        output y = tanhh(x);
        loss = mse(y, t);
    }
}

fn main() {}
