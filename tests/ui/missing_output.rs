use symnn::network;

network! {
    struct Net {
        input x;
        param w;
        let y = w * x;
        loss = y * y;
    }
}

fn main() {}
