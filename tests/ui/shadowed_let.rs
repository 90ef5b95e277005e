use symnn::network;

network! {
    struct Net {
        input x;
        param w;
        let h = w * x;
        let h = tanh(h);
        output y = h;
        loss = y * y;
    }
}

fn main() {}
