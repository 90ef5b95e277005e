use symnn::network;

network! {
    struct Net {
        input x[4];
        target t[3];
        let h = dense(x, 8, tahn);
        output y = dense(h, 3, identity);
        loss = mse(y, t);
    }
}

fn main() {}
