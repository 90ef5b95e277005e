use symnn::network;

network! {
    struct Net {
        input x;
        param w;
        output y = w * x;
        output z = y + 1.0;
        loss = y * y;
    }
}

fn main() {}
