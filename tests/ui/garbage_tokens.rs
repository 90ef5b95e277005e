use symnn::network;

network! {
    struct Net {
        input x;
        param w;
        output y = w * x;
        loss = y * y;
        @ ! #
    }
}

fn main() {}
