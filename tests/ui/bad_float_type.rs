use symnn::network;

network! {
    struct Net {
        type Float = f16;
        input x;
        param w;
        output y = w * x;
        loss = y * y;
    }
}

fn main() {}
