use symnn::network;

network! {
    struct Net {
        input x;
        param w;
        output y = w * x;
    }
}

fn main() {}
