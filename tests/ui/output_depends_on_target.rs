use symnn::network;

network! {
    struct Net {
        input x;
        target t;
        param w;
        output y = w * x + t;
        loss = sq(y);
    }
}

fn main() {}
