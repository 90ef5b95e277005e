use symnn::network;

network! {
    #[symnn(tensor_treshold = 0)]
    struct Net {
        input x[3];
        output y = sum(x);
        loss = y;
    }
}

network! {
    #[symnn(tensor_threshold = -1)]
    struct Other {
        input x[3];
        output y = sum(x);
        loss = y;
    }
}

network! {
    #[symnn(derivation = "element")]
    struct Third {
        input x[3];
        output y = sum(x);
        loss = y;
    }
}

fn main() {}
