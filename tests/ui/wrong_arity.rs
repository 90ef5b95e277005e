use symnn::network;

network! {
    struct Net {
        input x;
        param w;
        output y = tanh(w, x);
        loss = y * y;
    }
}

fn main() {}
