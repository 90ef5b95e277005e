use symnn::network;

network! {
    struct Net {
        input x;
        target t;
        param w;
        output y = w * x;
        loss = (y - t) * (y - t);
        loss = abs(y - t);
    }
}

fn main() {}
